"""GrowthBook's statistics engine (gbstats 0.8.0) answers seeded experiment fixtures.

`python core/tests/gbstats-oracle.py` recomputes every case of core/tests/fixtures/stats.json
with gbstats and fails if any answer moved; `--write` regenerates the file. The Rust test
core/tests/stats_parity.rs requires cortex-core's numbers to agree with these answers to 1e-6.
scripts/setup.sh installs gbstats into .venv-stats.
"""

import json
import math
import pathlib
import random
import sys
import warnings

# scipy warns while computing moments gbstats never reads; the answers are unaffected.
warnings.filterwarnings("ignore", category=RuntimeWarning)

from gbstats.bayesian.tests import EffectBayesianABTest, EffectBayesianConfig, GaussianPrior
from gbstats.frequentist.tests import (
    FrequentistConfig,
    SequentialConfig,
    SequentialTwoSidedTTest,
    TwoSidedTTest,
)
from gbstats.models.statistics import (
    ProportionStatistic,
    RatioStatistic,
    RegressionAdjustedStatistic,
    SampleMeanStatistic,
)
from gbstats.utils import check_srm

FIXTURE = pathlib.Path(__file__).parent / "fixtures" / "stats.json"
rng = random.Random(20261205)


def proportion(n, rate):
    return {"n": n, "sum": float(sum(1 for _ in range(n) if rng.random() < rate)) if n < 5000 else float(round(n * rate + rng.gauss(0, math.sqrt(n * rate * (1 - rate) + 1e-9))))}


def mean_stat(n, mu, sd):
    xs = [rng.gauss(mu, sd) for _ in range(min(n, 3000))]
    scale = n / len(xs) if xs else 0
    s = sum(xs) * scale
    ss = sum(x * x for x in xs) * scale
    return {"n": n, "sum": s, "sumSquares": ss}


def build(kind, d):
    if kind == "proportion":
        return ProportionStatistic(n=d["n"], sum=d["sum"])
    if kind == "mean":
        return SampleMeanStatistic(n=d["n"], sum=d["sum"], sum_squares=d["sumSquares"])
    if kind == "ratio":
        return RatioStatistic(
            n=d["n"],
            m_statistic=SampleMeanStatistic(n=d["n"], sum=d["m"]["sum"], sum_squares=d["m"]["sumSquares"]),
            d_statistic=SampleMeanStatistic(n=d["n"], sum=d["d"]["sum"], sum_squares=d["d"]["sumSquares"]),
            m_d_sum_of_products=d["mdSumOfProducts"],
        )
    if kind == "cuped":
        return RegressionAdjustedStatistic(
            n=d["n"],
            post_statistic=SampleMeanStatistic(n=d["n"], sum=d["post"]["sum"], sum_squares=d["post"]["sumSquares"]),
            pre_statistic=SampleMeanStatistic(n=d["n"], sum=d["pre"]["sum"], sum_squares=d["pre"]["sumSquares"]),
            post_pre_sum_of_products=d["postPreSumOfProducts"],
            theta=0,
        )
    raise ValueError(kind)


def paired(n, mu_m, mu_d, sd, corr):
    """Per-unit pairs (numerator, denominator) or (post, pre), summed."""
    k = min(n, 2000)
    scale = n / k
    m = d = mm = dd = md = 0.0
    for _ in range(k):
        x = rng.gauss(mu_d, sd)
        y = mu_m + corr * (x - mu_d) + rng.gauss(0, sd * math.sqrt(max(1 - corr * corr, 1e-6)))
        m, d, mm, dd, md = m + y, d + x, mm + y * y, dd + x * x, md + x * y
    return (
        {"sum": m * scale, "sumSquares": mm * scale},
        {"sum": d * scale, "sumSquares": dd * scale},
        md * scale,
    )


def random_case():
    kind = rng.choice(["proportion", "proportion", "mean", "ratio", "cuped"])
    n_a = rng.choice([2, 10, 50, 200, 1000, 5000, 40000, 250000])
    n_b = max(2, int(n_a * rng.uniform(0.8, 1.25)))
    lift = rng.choice([0, 0, 0.02, 0.05, 0.1, -0.05, 0.3])
    if kind == "proportion":
        rate = rng.choice([0.01, 0.05, 0.1, 0.3, 0.5])
        a, b = proportion(n_a, rate), proportion(n_b, min(rate * (1 + lift), 0.99))
    elif kind == "mean":
        mu, sd = rng.choice([(5, 2), (30, 25), (100, 80), (0.5, 1.5)])
        a, b = mean_stat(n_a, mu, sd), mean_stat(n_b, mu * (1 + lift), sd)
    elif kind == "ratio":
        ma, da, pa = paired(n_a, 3.0, 10.0, 2.0, 0.6)
        mb, db, pb = paired(n_b, 3.0 * (1 + lift), 10.0, 2.0, 0.6)
        a = {"n": n_a, "m": ma, "d": da, "mdSumOfProducts": pa}
        b = {"n": n_b, "m": mb, "d": db, "mdSumOfProducts": pb}
    else:
        pa_post, pa_pre, pa_prod = paired(n_a, 20.0, 20.0, 6.0, 0.7)
        pb_post, pb_pre, pb_prod = paired(n_b, 20.0 * (1 + lift), 20.0, 6.0, 0.7)
        a = {"n": n_a, "post": pa_post, "pre": pa_pre, "postPreSumOfProducts": pa_prod}
        b = {"n": n_b, "post": pb_post, "pre": pb_pre, "postPreSumOfProducts": pb_prod}
    return {
        "kind": kind,
        "a": a,
        "b": b,
        "difference": rng.choice(["relative", "relative", "absolute"]),
        "alpha": rng.choice([0.05, 0.05, 0.1, 0.01]),
    }


def freq(result):
    return {"expected": result.expected, "ci": list(result.ci), "pValue": result.p_value,
            "error": result.error_message}


def answer(case):
    a, b = build(case["kind"], case["a"]), build(case["kind"], case["b"])
    diff, alpha = case["difference"], case["alpha"]
    out = {}
    out["frequentist"] = freq(TwoSidedTTest(a, b, FrequentistConfig(alpha=alpha, difference_type=diff)).compute_result())
    a, b = build(case["kind"], case["a"]), build(case["kind"], case["b"])
    out["sequential"] = freq(SequentialTwoSidedTTest(
        a, b, SequentialConfig(alpha=alpha, difference_type=diff, sequential_tuning_parameter=5000)).compute_result())
    for name, prior in [("bayesian", GaussianPrior()), ("bayesianProper", GaussianPrior(mean=0, variance=0.09, proper=True))]:
        a, b = build(case["kind"], case["a"]), build(case["kind"], case["b"])
        r = EffectBayesianABTest(a, b, EffectBayesianConfig(alpha=alpha, difference_type=diff, prior_effect=prior)).compute_result()
        out[name] = {"expected": r.expected, "ci": list(r.ci), "chanceToWin": r.chance_to_win, "risk": list(r.risk),
                     "error": r.error_message}
    return out


def srm_case():
    k = rng.choice([2, 2, 3, 4])
    weights = [rng.choice([1, 1, 2, 0.5]) for _ in range(k)]
    total = rng.choice([0, 20, 1000, 100000])
    skew = rng.choice([0, 0, 0.01, 0.05])
    users = [max(0, int(total * w / sum(weights) * (1 + (skew if i == 0 else 0)) + rng.gauss(0, 3))) for i, w in enumerate(weights)]
    return {"users": users, "weights": weights}


def compute(fixture):
    return {
        "cases": [{**{k: c[k] for k in ("kind", "a", "b", "difference", "alpha")}, **answer(c)} for c in fixture["cases"]],
        "srm": [{**s, "p": float(check_srm(s["users"], s["weights"]))} for s in fixture["srm"]],
    }


def close(x, y):
    if isinstance(x, dict):
        return x.keys() == y.keys() and all(close(x[k], y[k]) for k in x)
    if isinstance(x, list):
        return len(x) == len(y) and all(close(p, q) for p, q in zip(x, y))
    if isinstance(x, float) and isinstance(y, (int, float)):
        return (math.isnan(x) and math.isnan(y)) or x == y or abs(x - y) <= 1e-9 * max(1, abs(x))
    return x == y


if __name__ == "__main__":
    if "--write" in sys.argv:
        fixture = {"cases": [random_case() for _ in range(400)], "srm": [srm_case() for _ in range(60)]}
        FIXTURE.write_text(json.dumps(compute(fixture), allow_nan=True) + "\n")
        print(f"wrote {len(fixture['cases'])} experiment cases and {len(fixture['srm'])} SRM cases to {FIXTURE}")
    else:
        stored = json.loads(FIXTURE.read_text())
        again = compute(stored)
        moved = [i for i, (x, y) in enumerate(zip(stored["cases"], again["cases"])) if not close(x, y)]
        moved_srm = [i for i, (x, y) in enumerate(zip(stored["srm"], again["srm"])) if not close(x, y)]
        if moved or moved_srm:
            print(f"gbstats answers differently from the fixture: cases {moved[:10]}, srm {moved_srm[:10]}")
            sys.exit(1)
        print(f"gbstats agrees with all {len(stored['cases'])} experiment cases and {len(stored['srm'])} SRM cases")
