//! Spec tables: every case in `fixtures/*.json` through the engine. The same fixtures are
//! checked against GrowthBook's own SDK by `growthbook-parity.mjs`, so passing both means
//! Cortex and GrowthBook agree case by case.

use cortex_core::bucketing::{bucket_ranges, choose_variant, hash, HashVersion};
use cortex_core::targeting::{Condition, SavedGroups};
use serde_json::Value;

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn version(v: &Value) -> HashVersion {
    HashVersion::try_from(v.as_u64().unwrap() as u8).unwrap()
}

#[test]
fn conditions_match_the_fixture_table() {
    let cases = fixture("conditions.json");
    let cases = cases.as_array().unwrap();
    assert!(cases.len() > 100);
    let mut failures = Vec::new();
    for c in cases {
        let groups = c
            .get("savedGroups")
            .map(SavedGroups::from_json)
            .unwrap_or_default();
        let got = Condition::compile(&c["condition"]).eval(&c["attributes"], &groups);
        if got != c["expected"].as_bool().unwrap() {
            failures.push(format!("{}: got {got}", c["name"]));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// Thousands of random conditions and attribute documents with mixed types (strings that
/// look like numbers, hex, exponents, odd whitespace, arrays and objects where scalars are
/// expected, operators given arguments of the wrong shape), answered by GrowthBook's own SDK
/// (`growthbook-random.mjs`): Cortex must give every answer GrowthBook gives.
#[test]
fn random_conditions_agree_with_growthbook() {
    let cases = fixture("random-conditions.json");
    let cases = cases.as_array().unwrap();
    assert!(cases.len() >= 2000);
    let groups = SavedGroups::default();
    let failures: Vec<String> = cases
        .iter()
        .enumerate()
        .filter(|(_, c)| {
            Condition::compile(&c["condition"]).eval(&c["attributes"], &groups)
                != c["expected"].as_bool().unwrap()
        })
        .map(|(i, c)| format!("case {i}: GrowthBook says {}: {c}", c["expected"]))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} random cases differ from GrowthBook; the first:\n{}",
        failures.len(),
        cases.len(),
        failures
            .iter()
            .take(15)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn hashes_match_the_fixture_table() {
    let b = fixture("bucketing.json");
    for h in b["hash"].as_array().unwrap() {
        let got = hash(
            h["seed"].as_str().unwrap(),
            h["value"].as_str().unwrap(),
            version(&h["version"]),
        );
        assert_eq!(got, h["bucket"].as_f64().unwrap(), "{h}");
    }
}

#[test]
fn assignments_match_the_fixture_table() {
    let b = fixture("bucketing.json");
    for a in b["assignments"].as_array().unwrap() {
        let weights: Vec<f64> = a["weights"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w.as_f64().unwrap())
            .collect();
        let ranges = bucket_ranges(weights.len(), a["coverage"].as_f64(), Some(&weights));
        let n = hash(
            a["seed"].as_str().unwrap(),
            a["unit"].as_str().unwrap(),
            version(&a["version"]),
        );
        let got = choose_variant(n, &ranges);
        assert_eq!(got, a["variant"].as_u64().map(|v| v as usize), "{a}");
    }
}

#[test]
fn namespaces_match_the_fixture_table() {
    use cortex_core::bucketing::Namespace;
    let b = fixture("bucketing.json");
    for n in b["namespaces"].as_array().unwrap() {
        let ns: Namespace = serde_json::from_value(n["namespace"].clone()).unwrap();
        let got = ns.contains(n["unit"].as_str().unwrap());
        assert_eq!(got, n["inNamespace"].as_bool().unwrap(), "{n}");
    }
}

#[test]
fn bucket_ranges_match_the_fixture_table() {
    let b = fixture("bucketing.json");
    for r in b["ranges"].as_array().unwrap() {
        let weights: Option<Vec<f64>> = r["weights"]
            .as_array()
            .map(|w| w.iter().map(|x| x.as_f64().unwrap()).collect());
        let got = bucket_ranges(
            r["n"].as_u64().unwrap() as usize,
            r["coverage"].as_f64(),
            weights.as_deref(),
        );
        let want: Vec<(f64, f64)> = r["expected"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p[0].as_f64().unwrap(), p[1].as_f64().unwrap()))
            .collect();
        assert_eq!(got.len(), want.len(), "{}", r["note"]);
        for (g, w) in got.iter().zip(&want) {
            assert!(
                (g.0 - w.0).abs() < 1e-12 && (g.1 - w.1).abs() < 1e-12,
                "{}: {got:?}",
                r["note"]
            );
        }
    }
}

/// 100,000 ids split across weighted variants within chi-square tolerance, for both hash
/// versions. Critical values at p = 0.001.
#[test]
fn bucketing_splits_by_weight() {
    for (weights, critical) in [
        (vec![0.5, 0.5], 10.83),
        (vec![0.2, 0.3, 0.5], 13.82),
        (vec![0.1, 0.2, 0.3, 0.4], 16.27),
    ] {
        for version in [HashVersion::V1, HashVersion::V2] {
            let ranges = bucket_ranges(weights.len(), Some(1.0), Some(&weights));
            let mut counts = vec![0u32; weights.len()];
            let n = 100_000;
            for i in 0..n {
                let unit = format!("visitor-{i}");
                let v = choose_variant(hash("split-test", &unit, version), &ranges)
                    .expect("full coverage assigns everyone");
                counts[v] += 1;
            }
            let chi2: f64 = counts
                .iter()
                .zip(&weights)
                .map(|(&c, &w)| {
                    let expected = w * f64::from(n);
                    (f64::from(c) - expected).powi(2) / expected
                })
                .sum();
            assert!(
                chi2 < critical,
                "{version:?} {weights:?}: counts {counts:?}, chi2 {chi2:.2} >= {critical}"
            );
        }
    }
}

/// With partial coverage, the share of units in the experiment matches the coverage.
#[test]
fn coverage_excludes_the_right_share() {
    let ranges = bucket_ranges(2, Some(0.3), None);
    let n = 100_000;
    let included = (0..n)
        .filter(|i| {
            choose_variant(hash("cov", &format!("u{i}"), HashVersion::V2), &ranges).is_some()
        })
        .count();
    let share = included as f64 / f64::from(n);
    assert!((share - 0.3).abs() < 0.01, "share {share}");
}

#[test]
fn resolution_matches_the_fixture_table() {
    use cortex_core::layout::{Layout, Node};
    use cortex_core::mutation::{LayoutMutation, TriggerEvent};
    use cortex_core::resolve::{Plan, Visit};

    fn visible(n: &Node, out: &mut Vec<String>) {
        if !n.hidden {
            out.push(n.id.to_string());
            n.children.iter().for_each(|c| visible(c, out));
        }
    }

    let cases = fixture("resolution.json");
    let mut failures = Vec::new();
    for c in cases.as_array().unwrap() {
        let name = c["name"].as_str().unwrap();
        let layout: Layout = serde_json::from_value(c["layout"].clone()).unwrap();
        let rules: Vec<LayoutMutation> =
            serde_json::from_value(c["rules"].clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
        let events: Vec<TriggerEvent> = c
            .get("events")
            .map(|e| serde_json::from_value(e.clone()).unwrap())
            .unwrap_or_default();
        let sticky: Option<cortex_core::context::Sticky> = c
            .get("sticky")
            .map(|s| serde_json::from_value(s.clone()).unwrap());
        let plan = Plan::compile(rules);
        let groups = SavedGroups::default();
        let visit = Visit {
            attributes: &c["attributes"],
            groups: &groups,
            now: c["now"].as_str().unwrap().parse().unwrap(),
            events: &events,
            explain: true,
            sticky: sticky.as_ref(),
        };
        let res = plan.resolve(&layout, &visit);
        let want = &c["expected"];
        let mut ids = Vec::new();
        visible(&res.layout.root, &mut ids);
        let want_ids: Vec<String> = serde_json::from_value(want["visible"].clone()).unwrap();
        if ids != want_ids {
            failures.push(format!("{name}: visible {ids:?}"));
        }
        for (rule, outcome) in want["outcomes"].as_object().unwrap() {
            let got = res
                .trace
                .iter()
                .find(|t| *t.rule_id == **rule)
                .map(|t| serde_json::to_value(t).unwrap()["outcome"].clone());
            if got.as_ref() != Some(outcome) {
                failures.push(format!(
                    "{name}: rule {rule} outcome {got:?}, want {outcome}"
                ));
            }
        }
        if let Some(props) = want.get("props").and_then(Value::as_object) {
            for (id, p) in props {
                let node = res
                    .layout
                    .root
                    .find(&id.as_str().into())
                    .map(|n| Value::Object((*n.props).clone()));
                if node.as_ref() != Some(p) {
                    failures.push(format!("{name}: props of {id} are {node:?}"));
                }
            }
        }
        if let Some(ex) = want.get("exposures") {
            if &serde_json::to_value(&res.exposures).unwrap() != ex {
                failures.push(format!("{name}: exposures {:?}", res.exposures));
            }
        }
        if res.clone().rollback() != layout {
            failures.push(format!("{name}: rollback does not give back the base"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn schedules_match_the_fixture_table_across_time_zones_and_dst() {
    use cortex_core::schedule::Schedule;
    let table = fixture("schedules.json");
    let cases = table["live"].as_array().unwrap();
    assert!(cases.len() > 50);
    let mut failures = Vec::new();
    for c in cases {
        let s: Schedule = serde_json::from_value(c["schedule"].clone()).unwrap();
        assert!(s.validate().is_ok(), "{}", c["name"]);
        let now = c["now"].as_str().unwrap().parse().unwrap();
        if s.contains(now) != c["expected"].as_bool().unwrap() {
            failures.push(c["name"].to_string());
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    for c in table["invalid"].as_array().unwrap() {
        let mut rule = serde_json::json!({
            "id": "r", "layoutId": "l", "pageSlug": "home", "mutationType": "hide",
            "mutationPayload": {"target": "hero"}, "createdBy": "u",
            "timestamp": "2026-11-25T10:00:00Z", "isActive": true, "layer": "page",
        });
        rule["schedule"] = c["schedule"].clone();
        let rule: cortex_core::mutation::LayoutMutation = serde_json::from_value(rule).unwrap();
        let error = rule.validate().unwrap_err();
        assert_eq!(error.field, c["field"].as_str().unwrap(), "{error}");
        if error.field == "schedule.timeZone" {
            // Saving refuses it; a rule that arrives this way anyhow is never live.
            let now = "2026-12-01T09:30:00Z".parse().unwrap();
            assert!(!rule.schedule.unwrap().contains(now));
        }
    }
}
