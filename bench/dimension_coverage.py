"""Dimensions of several questions by simulation: coverage of the dimension mean's interval.

Usage (from the repository root):

    .venv/bin/python bench/dimension_coverage.py                 # 4,000 cells per case
    .venv/bin/python bench/dimension_coverage.py --reps 1000 --seed 7

Each case is a dimension of ``m`` questions (2, 3 or 4) on a 1-5 scale, answered by ``n``
respondents (12, 40 or 200) whose answers to the questions correlate with ``rho`` (0, 0.5 or
0.9 between the latent answers): respondent i answers question q with
``clip(round(a_q + 1.1 * z_iq), 1, 5)``, ``z_iq = sqrt(rho) u_i + sqrt(1 - rho) e_iq``,
standard normal ``u`` and ``e``. The answers are reduced to counts per scale point, as the
product stores them (no link between a respondent's answers), and the interval is computed
by the product's own ``groups_from_counts`` (grouped by dimension, each simulated cell being
one "unit"), then ``mean +/- t(n_eff - 1) * se`` as the indicator rows show it. The true mean
of the dimension is the average of the questions' exact expected answers. Printed per case:
the share of intervals that cover the truth, for the interval as published (respondents
counted) and for the one that counts every answer as independent (what was published
before), with the ratio of their half-widths.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy import stats as sps

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analytics.indicators.queries import Counts, QuestionInfo  # noqa: E402
from analytics.indicators.table import groups_from_counts  # noqa: E402

QUESTIONS = (2, 3, 4)
RHOS = (0.0, 0.5, 0.9)
SIZES = (12, 40, 200)
OFFSETS = (3.2, 3.6, 3.9, 3.4)  # a_q: the questions differ in how well they are rated
SLOPE = 1.1
CONFIDENCE = 0.95


def expected(a: float) -> float:
    """Exact E[clip(round(a + SLOPE * z), 1, 5)] for a standard normal z."""
    cuts = (np.arange(1, 5) + 0.5 - a) / SLOPE  # y <= k  <=>  z < cut_k, k = 1..4
    below = sps.norm.cdf(cuts)
    probs = np.diff(np.concatenate([[0.0], below, [1.0]]))
    return float((probs * np.arange(1, 6)).sum())


def simulate(
    rng: np.random.Generator, m: int, rho: float, n: int, reps: int
) -> tuple[float, float, float]:
    """(coverage as published, coverage counting answers as independent, width ratio)."""
    u = rng.standard_normal((reps, n, 1))
    e = rng.standard_normal((reps, n, m))
    z = np.sqrt(rho) * u + np.sqrt(1 - rho) * e
    a = np.array(OFFSETS[:m])
    y = np.clip(np.round(a[None, None, :] + SLOPE * z), 1, 5).astype(np.int64)
    # Counts per (cell, question, scale point): all that the product keeps of the answers.
    cell = np.broadcast_to(np.arange(reps)[:, None, None], y.shape).ravel()
    question = np.broadcast_to(np.arange(m)[None, None, :], y.shape).ravel()
    code = (cell * m + question) * 5 + (y.ravel() - 1)
    uniq, cnt = np.unique(code, return_counts=True)
    value = uniq % 5 + 1
    rest = uniq // 5
    counts = Counts(
        keys={"unit": rest // m},
        question=np.array([f"q{q}" for q in rest % m], dtype=object),
        value=value.astype(float),
        n=cnt.astype(np.int64),
        source="simulation",
        wn=cnt.astype(float),
        w2n=cnt.astype(float),
        w4n=cnt.astype(float),
    )
    infos = {f"q{q}": QuestionInfo(f"q{q}", "rating", "dim", 1.0, 5.0) for q in range(m)}
    t = groups_from_counts(counts, infos, ["unit", "dimension"], ["unit", "dimension"], None)
    mean, _sd, se = t.est["value"]
    truth = float(np.mean([expected(x) for x in a]))
    half = sps.t.ppf(0.5 + CONFIDENCE / 2, t.n_eff - 1) * se
    covered = np.abs(mean - truth) <= half
    # What counting every answer as independent gave: the factor taken out again.
    factor = np.sqrt(t.n_answers / t.n)
    half_old = sps.t.ppf(0.5 + CONFIDENCE / 2, t.n_eff * factor**2 - 1) * se / factor
    covered_old = np.abs(mean - truth) <= half_old
    return float(covered.mean()), float(covered_old.mean()), float(np.mean(half / half_old))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=4000, help="simulated cells per case")
    parser.add_argument("--seed", type=int, default=20261204)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    print(f"reps={args.reps} seed={args.seed} confidence={CONFIDENCE}")
    print("questions  rho   respondents  coverage  independent-answers  width ratio")
    worst = 1.0
    for m in QUESTIONS:
        for rho in RHOS:
            for n in SIZES:
                cov, cov_old, ratio = simulate(rng, m, rho, n, args.reps)
                worst = min(worst, cov)
                print(f"{m:9d}  {rho:3.1f}  {n:11d}  {cov:8.3f}  {cov_old:19.3f}  {ratio:11.2f}")
    print(f"lowest coverage as published: {worst:.3f}")


if __name__ == "__main__":
    main()
