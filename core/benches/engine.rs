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

criterion_group!(benches, conditions, bucketing);
criterion_main!(benches);
