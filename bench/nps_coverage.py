"""Coverage of the NPS interval: the plain normal interval against the pseudo-count one.

Usage (from the repository root):

    .venv/bin/python bench/nps_coverage.py                 # weighted case: 20,000 draws
    .venv/bin/python bench/nps_coverage.py --reps 5000 --seed 7

Unweighted cells are counted exactly, not sampled: for ``n`` answers from a mix of promoters,
passives and detractors every outcome (P, passives, D) is enumerated with its multinomial
probability, its NPS and SE are computed as ``moments`` does (mean and SE of y in {+1, 0, -1}),
and the interval is the old one (NPS +/- 1.96 SE, clipped) or the new one (``nps_interval`` on
the promoter and detractor shares, what the service uses). Coverage is the probability that the interval holds
the true NPS. Weighted cells are simulated: answers drawn from the mix, weights log-normal
(sigma 0.6) independent of the answers, NPS and Taylor SE from ``moments``, the effective
number of answers Kish's. Prints the coverage per case, old against new.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy import stats as sps

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analytics.indicators.statistics import Z, moments, nps_interval  # noqa: E402

SIZES = (5, 10, 20, 50, 200)
# (promoters, detractors): typical, very good, near-unanimous, split, poor, very poor.
MIXES = ((0.5, 0.2), (0.7, 0.1), (0.9, 0.05), (0.3, 0.3), (0.2, 0.5), (0.05, 0.85))


def old_interval(nps: np.ndarray, se: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.maximum(-100.0, nps - Z * se), np.minimum(100.0, nps + Z * se)


def exact(n: int, p: float, d: float) -> tuple[float, float]:
    """Exact coverage (old, new) for n unweighted answers."""
    big_p, big_d = np.meshgrid(np.arange(n + 1), np.arange(n + 1), indexing="ij")
    ok = big_p + big_d <= n
    big_p, big_d = big_p[ok].astype(float), big_d[ok].astype(float)
    prob = sps.multinomial.pmf(
        np.stack([big_p, n - big_p - big_d, big_d], axis=1), n, [p, 1 - p - d, d]
    )
    m = (big_p - big_d) / n
    var_pop = (big_p + big_d) / n - m * m
    with np.errstate(invalid="ignore", divide="ignore"):
        se = np.sqrt(var_pop / (n - 1))  # the SE ``moments`` gives without weights
    nps, se = 100 * m, 100 * se
    truth = 100 * (p - d)
    out = []
    for low, high in (old_interval(nps, se), nps_interval(big_p / n, big_d / n, n)):
        # A tolerance for rounding: an interval ending exactly at the truth holds it.
        hit = (low <= truth + 1e-9) & (truth - 1e-9 <= high)
        out.append(float(prob[hit].sum()))
    return out[0], out[1]


def weighted(
    n: int, p: float, d: float, reps: int, rng: np.random.Generator
) -> tuple[float, float]:
    """Simulated coverage (old, new) for n weighted answers."""
    y = rng.choice([1.0, 0.0, -1.0], size=(reps, n), p=[p, 1 - p - d, d]).reshape(-1)
    w = rng.lognormal(0.0, 0.6, size=reps * n)
    g = np.repeat(np.arange(reps), n)
    m, _sd, se = moments(g, reps, np.ones_like(w), w, w * w, y)
    sw = np.bincount(g, weights=w, minlength=reps)
    sw2 = np.bincount(g, weights=w * w, minlength=reps)
    neff = sw * sw / sw2
    promoters = np.bincount(g, weights=w * (y > 0), minlength=reps) / sw
    detractors = np.bincount(g, weights=w * (y < 0), minlength=reps) / sw
    nps, se = 100 * m, 100 * se
    truth = 100 * (p - d)
    out = []
    for low, high in (old_interval(nps, se), nps_interval(promoters, detractors, neff)):
        out.append(float(((low <= truth + 1e-9) & (truth - 1e-9 <= high)).mean()))
    return out[0], out[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=16)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    mixes = "  ".join(f"{100 * p:.0f}/{100 * d:.0f}".rjust(11) for p, d in MIXES)
    print("Coverage of the true NPS by the 95% interval, old (normal) / new (+1/+1/+1).")
    print(f"Mixes: % promoters / % detractors. Weighted: {args.reps} draws, seed {args.seed}.")
    for label, fn in (
        ("unweighted (exact)", lambda n, p, d: exact(n, p, d)),
        ("weighted (simulated)", lambda n, p, d: weighted(n, p, d, args.reps, rng)),
    ):
        print(f"\n{label}\n{'n':>5}  {mixes}   min old / new")
        for n in SIZES:
            res = [fn(n, p, d) for p, d in MIXES]
            cells = "  ".join(f"{100 * a:5.1f}/{100 * b:5.1f}" for a, b in res)
            lo_old = min(a for a, _b in res)
            lo_new = min(b for _a, b in res)
            print(f"{n:>5}  {cells}   {100 * lo_old:5.1f} / {100 * lo_new:5.1f}")


if __name__ == "__main__":
    main()
