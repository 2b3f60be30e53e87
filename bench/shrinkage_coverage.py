"""Shrunk scores and the composite index by simulation: interval coverage and collapse.

Usage (from the repository root):

    .venv/bin/python bench/shrinkage_coverage.py                 # 2,000 campaigns per case
    .venv/bin/python bench/shrinkage_coverage.py --reps 500 --seed 7

Each campaign has G units (5, 10 or 30) of n answers each, n drawn log-uniformly from 6 to
300, rated on four dimensions. A unit's true dimension means are the dimension's mean plus a
unit effect common to the dimensions (variance 0.7 * 9) plus a dimension-specific one
(variance 0.3 * 9): units truly differ by SD 3 score points per dimension ("differ"), or not
at all ("equal"). Answers have SD 25 score points within a unit and correlate 0.5 across
dimensions within a respondent; the cell mean and SD are drawn from their exact sampling
distributions. Each dimension is shrunk with the service's own ``shrink`` and the composite
(equal weights) combined as ``ranking`` does: index = mean of shrunk scores, SE = mean of
posterior SDs, interval +/- 1.96 SE. Prints the share of true unit means (per dimension) and
true composites (all units; the truly best and worst unit) inside their intervals, and the
share of campaigns where every unit of a dimension gets the same shrunk score, and the mean
ratio of a unit's interval width to its raw t interval's. Then item 6 of
the analysis: two units with raw score 50 (n = 6 and n = 300) among units of 300 answers.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy import stats as sps

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analytics.indicators.statistics import Z, shrink  # noqa: E402

DIMS = 4
SIGMA = 25.0
RHO = 0.5
TAU = 3.0
BASE = np.array([62.0, 58.0, 66.0, 55.0])


def campaign(
    rng: np.random.Generator, g: int, tau: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(true means G x D, observed means, observed SDs, n per unit)."""
    n = np.round(np.exp(rng.uniform(np.log(6), np.log(300), g))).astype(float)
    common = rng.standard_normal((g, 1)) * tau * np.sqrt(0.7)
    own = rng.standard_normal((g, DIMS)) * tau * np.sqrt(0.3)
    theta = BASE[None, :] + common + own
    z = np.sqrt(RHO) * rng.standard_normal((g, 1)) + np.sqrt(1 - RHO) * rng.standard_normal(
        (g, DIMS)
    )
    mean = theta + SIGMA / np.sqrt(n)[:, None] * z
    sd = SIGMA * np.sqrt(rng.chisquare(n[:, None] - 1, (g, DIMS)) / (n[:, None] - 1))
    return theta, mean, sd, n


def run(rng: np.random.Generator, g: int, tau: float, reps: int) -> dict[str, float]:
    unit_hits = comp_hits = best_hits = worst_hits = top_hits = bottom_hits = collapsed = 0
    width = 0.0
    for _ in range(reps):
        theta, mean, sd, n = campaign(rng, g, tau)
        est = np.empty_like(mean)
        post = np.empty_like(mean)
        for d in range(DIMS):
            est[:, d], post[:, d], _p = shrink(mean[:, d], sd[:, d], n)
            collapsed += int(np.ptp(est[:, d]) < 1e-9)
        unit_hits += int((np.abs(est - theta) <= Z * post).sum())
        raw_half = sps.t.ppf(0.975, n - 1)[:, None] * sd / np.sqrt(n)[:, None]
        width += float((Z * post / raw_half).mean())
        idx, se, truth = est.mean(axis=1), post.mean(axis=1), theta.mean(axis=1)
        inside = np.abs(idx - truth) <= Z * se
        comp_hits += int(inside.sum())
        best_hits += int(inside[np.argmax(truth)])
        worst_hits += int(inside[np.argmin(truth)])
        top_hits += int(inside[np.argmax(idx)])
        bottom_hits += int(inside[np.argmin(idx)])
    return {
        "unit": unit_hits / (reps * g * DIMS),
        "composite": comp_hits / (reps * g),
        "best": best_hits / reps,
        "worst": worst_hits / reps,
        "top": top_hits / reps,
        "bottom": bottom_hits / reps,
        "collapsed": collapsed / (reps * DIMS),
        "width": width / reps,
    }


def small_weak_unit() -> None:
    """Item 6: raw 50 with n = 6 and with n = 300 among units of 300 answers around 60."""
    mean = np.array([50.0, 50.0, 56.0, 58.0, 60.0, 62.0, 64.0])
    n = np.array([6.0, 300, 300, 300, 300, 300, 300])
    est, post, params = shrink(mean, np.full(7, SIGMA), n)
    for j in (0, 1):
        print(
            f"  raw 50, n={int(n[j]):3d}: shrunk {est[j]:.1f}, interval "
            f"{est[j] - Z * post[j]:.1f}-{est[j] + Z * post[j]:.1f}"
        )
    print(
        f"  overall mean {params['overall_mean']:.1f}, tau median {params['tau_between_median']:.2f}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=20261204)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    print(f"{a.reps} campaigns per case; coverage of 95% intervals")
    print("                      composite index: all, truly best/worst, ranked first/last")
    print("units  spread  unit   all    best   worst  first  last   all-equal  width/raw")
    for tau, label in ((TAU, "differ"), (0.0, "equal")):
        for g in (5, 10, 30):
            r = run(rng, g, tau, a.reps)
            print(
                f"{g:5d}  {label:6s}  {r['unit']:.3f}  {r['composite']:.3f}  {r['best']:.3f}  "
                f"{r['worst']:.3f}  {r['top']:.3f}  {r['bottom']:.3f}  {r['collapsed']:.3f}      {r['width']:.2f}"
            )
    print("item 6 (small weak unit):")
    small_weak_unit()


if __name__ == "__main__":
    main()
