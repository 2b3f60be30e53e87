"""Trend alerts by simulation: false alarms under no change, and power for a real drop.

Usage (from the repository root):

    .venv/bin/python bench/trend_alarms.py                 # 20,000 pairs of periods per case
    .venv/bin/python bench/trend_alarms.py --reps 5000 --seed 7

Each case draws two periods of ``n`` answers on a 1-5 scale from the same distribution (no
change) or from a distribution whose answers drop one point with probability 1/2 (a real
drop of about 10 score points), computes each period's score and its standard error with
the service's own ``moments`` (so the weighted case uses the same Taylor SE and the same
effective size), and tests the change with ``change_test`` (what ``trends`` uses) and, for
comparison, with the normal z test it replaces. A change is an alarm when p < 0.05 (one
change tested, so Benjamini-Hochberg leaves p as it is). Prints the share of alarms per case.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy import stats as sps

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analytics.indicators.statistics import change_test, moments  # noqa: E402

SIZES = (5, 8, 20, 50)
ALPHA = 0.05
DISTRIBUTIONS = {
    "spread": [0.10, 0.15, 0.25, 0.30, 0.20],
    "ceiling": [0.02, 0.03, 0.10, 0.35, 0.50],
    "polarised": [0.30, 0.10, 0.10, 0.15, 0.35],
    "near-constant": [0.00, 0.00, 0.05, 0.15, 0.80],
}


def period(
    rng: np.random.Generator, probs: list[float], reps: int, n: int, drop: bool, weighted: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(score, SE, n_eff, df size, n) of ``reps`` periods of ``n`` answers each; the df size is
    (sum w^2)^2 / sum w^4, the product's ``Groups.n_df`` (n_eff when unweighted)."""
    v = rng.choice(np.arange(1, 6), size=(reps, n), p=probs).astype(float)
    if drop:
        v = np.maximum(1.0, v - (rng.random((reps, n)) < 0.5))
    score = 100 * (v - 1) / 4
    w = rng.lognormal(0.0, 0.6, size=(reps, n)) if weighted else np.ones((reps, n))
    g = np.repeat(np.arange(reps), n)
    mean, _sd, se = moments(g, reps, np.ones(reps * n), w.ravel(), (w * w).ravel(), score.ravel())
    n_eff = w.sum(axis=1) ** 2 / (w * w).sum(axis=1)
    n_df = (w * w).sum(axis=1) ** 2 / (w**4).sum(axis=1)
    return mean, se, n_eff, n_df, np.full(reps, float(n))


def alarms(
    rng: np.random.Generator, probs: list[float], reps: int, n: int, drop: bool, weighted: bool
) -> tuple[float, float, float]:
    """(share of alarms with change_test, with the old z test, mean change in score)."""
    ma, sa, ea, da, ca = period(rng, probs, reps, n, False, weighted)
    mb, sb, eb, db, cb = period(rng, probs, reps, n, drop, weighted)
    diff = mb - ma
    whole_a, whole_b = np.minimum(ca, np.floor(ea)), np.minimum(cb, np.floor(eb))
    _t, _df, p = change_test(diff, sa, sb, da, db, whole_a, whole_b)
    se = np.hypot(sa, sb)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(se > 0, diff / se, 0.0)
    p_z = 2 * sps.norm.sf(np.abs(z))
    return float((p < ALPHA).mean()), float((p_z < ALPHA).mean()), float(diff.mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=20261204)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    print(f"reps={args.reps} seed={args.seed} alpha={ALPHA}; 1-5 scale, score 0-100")
    print(f"{'case':<34}{'n':>4}{'welch':>9}{'z (old)':>9}{'change':>9}")
    worst = 0.0
    for drop in (False, True):
        print("-- no change (false alarms)" if not drop else "-- real drop (power)")
        for weighted in (False, True):
            for name, probs in DISTRIBUTIONS.items():
                if weighted and name != "spread":
                    continue
                for n in SIZES:
                    rate, rate_z, change = alarms(rng, probs, args.reps, n, drop, weighted)
                    if not drop:
                        worst = max(worst, rate)
                    label = name + (", weighted (lognormal 0.6)" if weighted else "")
                    print(f"{label:<34}{n:>4}{rate:>9.3f}{rate_z:>9.3f}{change:>9.1f}")
    se = np.sqrt(ALPHA * (1 - ALPHA) / args.reps)
    print(f"highest false-alarm rate: {worst:.3f} (Monte Carlo SE about {se:.4f})")
    # Two constant periods that differ: 100 -> 75 with 5 respondents each.
    _t, _df, p = change_test(
        np.array([-25.0]), np.zeros(1), np.zeros(1), *(np.full(1, 5.0) for _ in range(4))
    )
    print(f"constant periods 100 -> 75, 5 respondents each: p = {p[0]:.4f} (2 / C(10, 5))")


if __name__ == "__main__":
    main()
