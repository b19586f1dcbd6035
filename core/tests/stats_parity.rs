//! Cortex's experiment statistics against GrowthBook's own engine: every case of
//! `fixtures/stats.json` was answered by gbstats 0.8.0 (`gbstats-oracle.py`, which CI runs
//! to check the answers still hold); Cortex must agree to 1e-6 on every number.

use cortex_core::stats::bayesian::{effect_test, Prior};
use cortex_core::stats::frequentist::{sequential, two_sided, SEQUENTIAL_TUNING};
use cortex_core::stats::statistic::Sums;
use cortex_core::stats::{srm, Difference, NoResult, Statistic};
use serde_json::Value;

const TOLERANCE: f64 = 1e-6;

fn fixture() -> Value {
    let path = format!("{}/tests/fixtures/stats.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn sums(v: &Value) -> Sums {
    Sums {
        sum: v["sum"].as_f64().unwrap(),
        sum_squares: v["sumSquares"].as_f64().unwrap(),
    }
}

fn statistic(kind: &str, v: &Value) -> Statistic {
    let n = v["n"].as_u64().unwrap();
    match kind {
        "proportion" => Statistic::Proportion {
            n,
            sum: v["sum"].as_f64().unwrap(),
        },
        "mean" => Statistic::Mean { n, sums: sums(v) },
        "ratio" => Statistic::Ratio {
            n,
            numerator: sums(&v["m"]),
            denominator: sums(&v["d"]),
            products: v["mdSumOfProducts"].as_f64().unwrap(),
        },
        "cuped" => Statistic::Adjusted {
            n,
            post: sums(&v["post"]),
            pre: sums(&v["pre"]),
            products: v["postPreSumOfProducts"].as_f64().unwrap(),
            theta: 0.0,
        },
        other => panic!("unknown kind {other}"),
    }
}

fn error(v: &Value) -> Option<NoResult> {
    v.as_str()
        .map(|e| serde_json::from_value(Value::String(e.into())).unwrap())
}

/// Records the difference between Cortex's number and gbstats'.
struct Diff {
    largest: f64,
    where_: String,
    failures: Vec<String>,
}

impl Diff {
    fn check(&mut self, what: String, ours: f64, theirs: &Value) {
        let theirs = theirs.as_f64().unwrap_or(f64::NAN);
        if ours.is_infinite() && ours == theirs {
            return;
        }
        let d = (ours - theirs).abs();
        let scaled = d / theirs.abs().max(1.0);
        if scaled > self.largest || d.is_nan() {
            self.largest = if d.is_nan() { f64::INFINITY } else { scaled };
            self.where_ = what.clone();
        }
        if scaled.is_nan() || scaled > TOLERANCE {
            self.failures
                .push(format!("{what}: Cortex {ours}, gbstats {theirs}"));
        }
    }
}

#[test]
fn statistics_agree_with_gbstats() {
    let f = fixture();
    let cases = f["cases"].as_array().unwrap();
    assert!(cases.len() >= 300);
    let mut diff = Diff {
        largest: 0.0,
        where_: String::new(),
        failures: vec![],
    };
    for (i, c) in cases.iter().enumerate() {
        let kind = c["kind"].as_str().unwrap();
        let (a, b) = (statistic(kind, &c["a"]), statistic(kind, &c["b"]));
        let difference = match c["difference"].as_str().unwrap() {
            "relative" => Difference::Relative,
            _ => Difference::Absolute,
        };
        let alpha = c["alpha"].as_f64().unwrap();
        let at = |what: &str| format!("case {i} ({kind}, {}) {what}", c["difference"]);

        for (name, ours) in [
            ("frequentist", two_sided(&a, &b, difference, alpha)),
            (
                "sequential",
                sequential(&a, &b, difference, alpha, SEQUENTIAL_TUNING),
            ),
        ] {
            let theirs = &c[name];
            assert_eq!(ours.no_result, error(&theirs["error"]), "{}", at(name));
            diff.check(
                at(&format!("{name} expected")),
                ours.expected,
                &theirs["expected"],
            );
            diff.check(at(&format!("{name} ci low")), ours.ci.0, &theirs["ci"][0]);
            diff.check(at(&format!("{name} ci high")), ours.ci.1, &theirs["ci"][1]);
            diff.check(
                at(&format!("{name} p-value")),
                ours.p_value,
                &theirs["pValue"],
            );
        }
        for (name, prior) in [
            ("bayesian", None),
            (
                "bayesianProper",
                Some(Prior {
                    mean: 0.0,
                    variance: 0.09,
                }),
            ),
        ] {
            let ours = effect_test(&a, &b, difference, alpha, prior);
            let theirs = &c[name];
            assert_eq!(ours.no_result, error(&theirs["error"]), "{}", at(name));
            diff.check(
                at(&format!("{name} expected")),
                ours.expected,
                &theirs["expected"],
            );
            diff.check(at(&format!("{name} ci low")), ours.ci.0, &theirs["ci"][0]);
            diff.check(at(&format!("{name} ci high")), ours.ci.1, &theirs["ci"][1]);
            diff.check(
                at(&format!("{name} chance to win")),
                ours.chance_to_win,
                &theirs["chanceToWin"],
            );
            diff.check(
                at(&format!("{name} risk of the baseline")),
                ours.risk.0,
                &theirs["risk"][0],
            );
            diff.check(
                at(&format!("{name} risk of the arm")),
                ours.risk.1,
                &theirs["risk"][1],
            );
        }
    }
    for (i, s) in f["srm"].as_array().unwrap().iter().enumerate() {
        let users: Vec<u64> = s["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u.as_u64().unwrap())
            .collect();
        let weights: Vec<f64> = s["weights"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w.as_f64().unwrap())
            .collect();
        diff.check(format!("srm {i}"), srm::check(&users, &weights), &s["p"]);
    }
    eprintln!(
        "largest difference from gbstats (relative to max(1, |value|)): {:e} at {}",
        diff.largest, diff.where_
    );
    assert!(
        diff.failures.is_empty(),
        "{} numbers differ from gbstats by more than {TOLERANCE}:\n{}",
        diff.failures.len(),
        diff.failures
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
