//! Engine benchmarks (criterion): condition evaluation and bucketing throughput, with the
//! cost of parsing and compiling the same condition from JSON beside them as the baseline
//! that compile-once avoids. Run: `cargo bench -p cortex-core --bench engine`.

use cortex_core::bucketing::{bucket_ranges, choose_variant, hash, HashVersion};
use cortex_core::targeting::{Condition, SavedGroups};
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use serde_json::json;

fn attributes() -> serde_json::Value {
    json!({
        "id": "user-8f3a", "country": "DE", "age": 34, "device": "mobile", "persona": "bargain-hunter",
        "journey": "checkout", "locale": "de-DE", "app": "2.14.1", "tags": ["vip", "newsletter"], "visits": 12,
    })
}

fn conditions(c: &mut Criterion) {
    let attrs = attributes();
    let groups = SavedGroups::default();
    let mut g = c.benchmark_group("condition");
    g.throughput(Throughput::Elements(1));
    let simple = Condition::compile(&json!({"country": "DE"}));
    g.bench_function("simple equality (compiled)", |b| {
        b.iter(|| black_box(&simple).eval(black_box(&attrs), &groups))
    });
    let gt = Condition::compile(&json!({"age": {"$gt": 18}}));
    g.bench_function("simple $gt (compiled)", |b| {
        b.iter(|| black_box(&gt).eval(black_box(&attrs), &groups))
    });
    let five = Condition::compile(&json!({
        "country": {"$in": ["DE", "AT", "CH"]}, "age": {"$gte": 18}, "device": "mobile",
        "app": {"$vgte": "2.10.0"}, "tags": {"$elemMatch": {"$eq": "vip"}},
    }));
    g.bench_function("five conditions (compiled)", |b| {
        b.iter(|| black_box(&five).eval(black_box(&attrs), &groups))
    });
    let text = r#"{"country": "DE"}"#;
    g.bench_function(
        "simple equality: parse JSON + compile + evaluate (baseline)",
        |b| {
            b.iter(|| {
                let v: serde_json::Value = serde_json::from_str(black_box(text)).unwrap();
                Condition::compile(&v).eval(black_box(&attrs), &groups)
            })
        },
    );
    g.finish();
}

fn bucketing(c: &mut Criterion) {
    let units: Vec<String> = (0..1024).map(|i| format!("visitor-{i:06}")).collect();
    let ranges = bucket_ranges(3, Some(1.0), Some(&[0.2, 0.3, 0.5]));
    let mut g = c.benchmark_group("bucketing");
    g.throughput(Throughput::Elements(units.len() as u64));
    for v in [HashVersion::V1, HashVersion::V2] {
        g.bench_function(format!("assign 1024 units, hash {v:?}"), |b| {
            b.iter(|| {
                let mut assigned = 0usize;
                for u in &units {
                    assigned +=
                        choose_variant(hash("hero-test", black_box(u), v), &ranges).unwrap_or(0);
                }
                assigned
            })
        });
    }
    g.finish();
}

/// A page of 61 nodes (12 sections of 4 modules) and 50 rules of five conditions each,
/// about half of them targeting this visitor. `shared`: the conditions draw on a pool of
/// entries as real rule sets do (the same devices, countries, version floors; 24 distinct
/// entries among the 250); otherwise every one of the 250 entries is different, the worst
/// case for the plan's sharing of entries between rules.
fn page_and_rules(shared: bool) -> (cortex_core::layout::Layout, String) {
    let mut children = Vec::new();
    for s in 0..12 {
        let kids: Vec<serde_json::Value> = (0..4)
            .map(|m| json!({"id": format!("s{s}m{m}"), "type": "module", "props": {"n": m}}))
            .collect();
        children.push(json!({"id": format!("s{s}"), "type": "section", "children": kids}));
    }
    let layout = serde_json::from_value(json!({"pageSlug": "home", "version": 1, "root": {"id": "root", "type": "page", "children": children}})).unwrap();
    let layers = ["page", "module", "section"];
    let rules: Vec<serde_json::Value> = (0..50)
        .map(|i| {
            let target = format!("s{}m{}", i % 12, i % 4);
            let (mtype, payload) = match i % 3 {
                0 => ("props", json!({"target": target, "patch": {"headline": format!("v{i}")}})),
                1 => ("hide", json!({"target": target})),
                _ => ("reorder", json!({"target": target, "index": 0})),
            };
            let device = if i % 2 == 0 { "mobile" } else { "desktop" };
            let conditions = if shared {
                let countries: &[&str] = [&["DE", "AT"][..], &["DE", "CH"], &["DE"]][i % 3];
                let tags: &[&str] = [&["vip"][..], &["vip", "beta"], &["newsletter"], &["vip", "newsletter"]][i % 4];
                json!({
                    "country": {"$in": countries},
                    "age": {"$gte": 16 + i % 10},
                    "device": device,
                    "app": {"$vgte": format!("2.{}.0", 10 + i % 5)},
                    "tags": {"$elemMatch": {"$in": tags}},
                })
            } else {
                json!({
                    "country": {"$in": ["DE", format!("X{i}")]},
                    "age": {"$gte": 10.0 + i as f64 / 100.0},
                    "device": {"$in": [device, format!("d{i}")]},
                    "app": {"$vgte": format!("2.10.{i}")},
                    "tags": {"$elemMatch": {"$in": ["vip", format!("t{i}")]}},
                })
            };
            json!({
                "id": format!("rule-{i:02}"), "layoutId": "home", "pageSlug": "home", "mutationType": mtype, "mutationPayload": payload,
                "createdBy": "bench", "timestamp": "2026-11-01T00:00:00Z", "isActive": true, "layer": layers[i % 3],
                "priority": i % 7, "version": 1, "conditions": conditions,
            })
        })
        .collect();
    (layout, serde_json::to_string(&rules).unwrap())
}

fn resolution(c: &mut Criterion) {
    use cortex_core::mutation::LayoutMutation;
    use cortex_core::resolve::{Plan, Visit};
    let attrs = attributes();
    let groups = SavedGroups::default();
    let now: chrono::DateTime<chrono::Utc> = "2026-11-25T12:00:00Z".parse().unwrap();
    let visit = Visit {
        attributes: &attrs,
        groups: &groups,
        now,
        events: &[],
        explain: false,
        sticky: None,
    };
    let mut g = c.benchmark_group("page of 61 nodes, 50 rules x 5 conditions");
    for (shared, name) in [(true, "shared entries"), (false, "all entries distinct")] {
        let (layout, rules_json) = page_and_rules(shared);
        let rules: Vec<LayoutMutation> = serde_json::from_str(&rules_json).unwrap();
        let plan = Plan::compile(rules);
        let applied = plan.resolve(&layout, &visit).exposures.len();
        assert!(
            (20..=30).contains(&applied),
            "about half of the rules should apply ({applied})"
        );
        g.bench_function(format!("resolve, {name}: evaluate + apply + trace"), |b| {
            b.iter(|| plan.resolve(black_box(&layout), black_box(&visit)))
        });
        g.bench_function(
            format!("baseline, {name}: deserialize the rule set from JSON"),
            |b| {
                b.iter(|| {
                    serde_json::from_str::<Vec<LayoutMutation>>(black_box(&rules_json)).unwrap()
                })
            },
        );
        g.bench_function(
            format!("compile the plan, {name} (once per revision)"),
            |b| {
                b.iter_batched(
                    || serde_json::from_str::<Vec<LayoutMutation>>(&rules_json).unwrap(),
                    Plan::compile,
                    criterion::BatchSize::SmallInput,
                )
            },
        );
    }
    let (layout, _) = page_and_rules(true);
    g.bench_function("clone the base layout", |b| {
        b.iter(|| black_box(&layout).clone())
    });
    g.finish();
}

/// A visitor's attributes from an `apply` context: every attribute a context has (baseline)
/// against only those a rule set reads (here: device, language, persona and a custom tier,
/// with experiments on `id`), as the hub builds them.
fn attributes_of_a_visit(c: &mut Criterion) {
    use cortex_core::context::Context;
    use cortex_core::resolve::Plan;
    let context: Context = serde_json::from_value(json!({
        "anonymousId": "visitor-1234", "userAgent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0) Mobile/15E148",
        "locale": "de-DE", "persona": "persona-3", "journeyStage": "browsing",
        "referrer": "https://www.google.com/", "url": "https://shop.example/?utm_source=news",
        "timeZone": "Europe/Berlin", "custom": {"tier": 3},
    }))
    .unwrap();
    let rules = json!([{
        "id": "r", "layoutId": "home", "pageSlug": "home", "mutationType": "variant", "mutationPayload": {},
        "createdBy": "bench", "timestamp": "2026-11-01T00:00:00Z", "isActive": true, "layer": "page",
        "experiment": {"key": "x", "variants": [{"key": "a", "weight": 0.5}, {"key": "b", "weight": 0.5}]},
        "conditions": {"device": "mobile", "language": {"$in": ["de", "fr"]}, "$or": [{"persona": "persona-3"}, {"tier": {"$gte": 2}}]},
    }]);
    let plan = Plan::compile(serde_json::from_value(rules).unwrap());
    let now: chrono::DateTime<chrono::Utc> = "2026-11-25T12:00:00Z".parse().unwrap();
    let mut g = c.benchmark_group("attributes of one visit");
    g.bench_function("every attribute (baseline)", |b| {
        b.iter(|| black_box(&context).attributes(now))
    });
    g.bench_function("only those the rule set reads", |b| {
        b.iter(|| black_box(&context).attributes_read(now, plan.reads()))
    });
    g.finish();
}

criterion_group!(
    benches,
    conditions,
    bucketing,
    resolution,
    attributes_of_a_visit
);
criterion_main!(benches);
