//! Is the automation safe? Simulated experiments, looked at every day with the default
//! decision policy (`cortex_core::stats::decision`): 1,000 A/A experiments must give at most
//! 5 % false promotions; experiments with a true lift of 5 % and 10 % show the share promoted
//! and the median days to decide. Seeded and bounded (28 days, 1,000 visitors per arm and
//! day, a 10 % conversion rate). Run with `--nocapture` to see the figures:
//! `cargo test -p cortex-core --release --test decision_simulation -- --nocapture`.

use cortex_core::stats::decision::{decide, Arm, Decision, Policy};
use cortex_core::stats::Statistic;

const DAYS: u32 = 28;
const VISITORS_PER_ARM_PER_DAY: u64 = 1_000;
const BASE_RATE: f64 = 0.10;

/// SplitMix64: a small seeded generator, so every run sees the same experiments.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Conversions among `n` visitors converting with probability `p`.
    fn binomial(&mut self, n: u64, p: f64) -> u64 {
        (0..n).filter(|_| self.next() < p).count() as u64
    }
}

struct Outcome {
    promoted: usize,
    demoted: usize,
    days_to_promote: Vec<u32>,
}

fn simulate(experiments: usize, lift: f64, seed: u64) -> Outcome {
    let policy = Policy::default();
    let mut rng = Rng(seed);
    let mut out = Outcome {
        promoted: 0,
        demoted: 0,
        days_to_promote: vec![],
    };
    for _ in 0..experiments {
        let (mut n, mut conv_a, mut conv_b) = (0u64, 0u64, 0u64);
        for day in 1..=DAYS {
            n += VISITORS_PER_ARM_PER_DAY;
            conv_a += rng.binomial(VISITORS_PER_ARM_PER_DAY, BASE_RATE);
            conv_b += rng.binomial(VISITORS_PER_ARM_PER_DAY, BASE_RATE * (1.0 + lift));
            let arm = |key: &str, sum: u64| Arm {
                key: key.into(),
                weight: 0.5,
                units: n,
                goal: Statistic::Proportion { n, sum: sum as f64 },
                guardrails: vec![],
            };
            match decide(&[arm("control", conv_a), arm("b", conv_b)], day, &policy) {
                Decision::Promote { .. } => {
                    out.promoted += 1;
                    out.days_to_promote.push(day);
                    break;
                }
                Decision::Demote { .. } => {
                    out.demoted += 1;
                    break;
                }
                Decision::Wait { .. } | Decision::Blocked { .. } => {}
            }
        }
    }
    out
}

fn median(mut v: Vec<u32>) -> Option<u32> {
    v.sort_unstable();
    v.get(v.len() / 2).copied()
}

#[test]
fn automatic_decisions_are_safe_and_find_real_lifts() {
    let aa = simulate(1_000, 0.0, 1);
    let aa_rate = aa.promoted as f64 / 1_000.0;
    println!(
        "A/A, 1,000 experiments, daily looks for {DAYS} days: {} false promotions ({:.1} %), {} false demotions",
        aa.promoted,
        aa_rate * 100.0,
        aa.demoted
    );
    assert!(aa_rate <= 0.05, "false promotions {aa_rate}");
    let mut shares = Vec::new();
    for lift in [0.05, 0.10] {
        let o = simulate(500, lift, 2 + (lift * 100.0) as u64);
        let share = o.promoted as f64 / 500.0;
        println!(
            "true lift {:.0} %, 500 experiments: {:.1} % promoted within {DAYS} days, median {} days to decide, {} wrongly demoted",
            lift * 100.0,
            share * 100.0,
            median(o.days_to_promote.clone()).map_or("-".into(), |d| d.to_string()),
            o.demoted
        );
        assert_eq!(o.demoted, 0, "a real winner was switched off");
        shares.push(share);
    }
    assert!(
        shares[1] > shares[0],
        "a larger lift is found more often: {shares:?}"
    );
    assert!(
        shares[1] > 0.5,
        "a 10 % lift is found in most experiments: {shares:?}"
    );
}

/// A bandit over `days` daily weight changes with 2,000 visitors a day: the share of all
/// visitors the better arm got, and the conversions gained over an even split.
fn simulate_bandit(runs: usize, days: u32, lift: f64, seed: u64) -> (f64, f64) {
    use cortex_core::stats::bandit::Bandit;
    let bandit = Bandit::default();
    let mut rng = Rng(seed);
    let (mut to_better, mut total, mut gained) = (0u64, 0u64, 0.0);
    for run in 0..runs {
        let rates = [BASE_RATE, BASE_RATE * (1.0 + lift)];
        let (mut n, mut conv) = ([0u64; 2], [0u64; 2]);
        let mut weights = [0.5, 0.5];
        for day in 0..days {
            let daily = 2 * VISITORS_PER_ARM_PER_DAY;
            for arm in 0..2 {
                let visitors = (daily as f64 * weights[arm]).round() as u64;
                n[arm] += visitors;
                conv[arm] += rng.binomial(visitors, rates[arm]);
                gained += visitors as f64 * (rates[arm] - (rates[0] + rates[1]) / 2.0);
            }
            let goals: Vec<Option<Statistic>> = (0..2)
                .map(|a| {
                    Some(Statistic::Proportion {
                        n: n[a],
                        sum: conv[a] as f64,
                    })
                })
                .collect();
            if let Some(next) = bandit.weights(&goals, (run as u64) << 8 | u64::from(day)) {
                weights = [next.weights[0], next.weights[1]];
            }
        }
        to_better += n[1];
        total += n[0] + n[1];
    }
    (to_better as f64 / total as f64, gained / runs as f64)
}

#[test]
fn a_bandit_sends_more_visitors_to_the_better_variant_and_spreads_equal_ones() {
    const RUNS: usize = 20;
    const DAYS: u32 = 14;
    let (aa, _) = simulate_bandit(RUNS, DAYS, 0.0, 11);
    let (better, gained) = simulate_bandit(RUNS, DAYS, 0.10, 12);
    println!(
        "bandit, {RUNS} runs of {DAYS} daily changes: A/A gives the second arm {:.1} % of visitors; with a 10 % lift the better arm gets {:.1} %, {gained:.0} conversions per run more than an even split",
        aa * 100.0,
        better * 100.0
    );
    assert!(
        (0.35..0.65).contains(&aa),
        "equal arms stay near even: {aa}"
    );
    assert!(better > 0.6, "the better arm gets most visitors: {better}");
    assert!(gained > 0.0, "{gained}");
}
