"""Coverage of the democratic evaluation's score interval (stratified bootstrap over raters).

Usage (from the repository root):

    .venv/bin/python bench/evaluation_interval.py                  # 1,000 campaigns per case
    .venv/bin/python bench/evaluation_interval.py --reps 400 --draws 1000 --seed 7
    .venv/bin/python bench/evaluation_interval.py --compare --reps 300   # every method

Each simulated campaign has the default scheme (four grades 100/80/60/0, 德能勤绩廉 equally
weighted, groups weighted 30/30/40). Raters of a group are lenient or strict (a latent type
per rater, so a sheet's grades are correlated as real ones are) and say 不了解 5-15% of the
time; the true score is computed from those probabilities. Two populations: ``mid`` (true
score about 70, 不称职 up to one grade in five) and ``high`` (about 92.5, 不称职 rare, so a
small group is often unanimous and the score's distribution is skewed to the left).

Every sheet goes through the product's ``subject_result`` (k = 1, so no pooling); coverage
is how often its 95% interval holds the true score, with its Monte Carlo standard error,
and each tail's miss rate: ``below`` the true score under the interval, ``above`` over it.
``--compare`` computes every candidate method (``interval.candidates``) from the same draws
for the same campaigns. Also prints the mean time of one subject's interval.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analytics.evaluation import interval as score_interval  # noqa: E402
from analytics.evaluation.config import parse  # noqa: E402
from analytics.evaluation.results import GradeRow, subject_result  # noqa: E402
from surveys.evaluation.config import DEFAULT_CONFIG  # noqa: E402

POINTS = np.array([100.0, 80.0, 60.0, 0.0])
KEYS = ["excellent", "competent", "basic", "incompetent", "unknown"]
# Per population, per group, per rater type: the chances of excellent, competent, basic,
# incompetent, unknown.
TYPES = {
    "mid": {
        "members": ([0.6, 0.3, 0.05, 0.0, 0.05], [0.2, 0.5, 0.2, 0.05, 0.05]),
        "staff": ([0.4, 0.4, 0.1, 0.0, 0.1], [0.1, 0.4, 0.3, 0.1, 0.1]),
        "served": ([0.3, 0.4, 0.1, 0.05, 0.15], [0.05, 0.3, 0.3, 0.2, 0.15]),
    },
    "high": {
        "members": ([0.85, 0.1, 0.0, 0.0, 0.05], [0.6, 0.3, 0.05, 0.0, 0.05]),
        "staff": ([0.8, 0.12, 0.0, 0.0, 0.08], [0.55, 0.3, 0.05, 0.02, 0.08]),
        "served": ([0.75, 0.15, 0.02, 0.01, 0.07], [0.5, 0.3, 0.08, 0.04, 0.08]),
    },
}
LENIENT = 0.5
CASES = [
    ("mid", (3, 3, 3)),
    ("mid", (4, 4, 4)),
    ("mid", (5, 5, 5)),
    ("mid", (8, 12, 20)),
    ("mid", (15, 30, 40)),
    ("mid", (30, 60, 100)),
    ("high", (3, 3, 3)),
    ("high", (5, 5, 5)),
    ("high", (8, 12, 20)),
]
WEIGHTS = {"members": 30.0, "staff": 30.0, "served": 40.0}


def true_score(population: str) -> float:
    """The score the scheme gives the population: per group, the expected points of a known
    grade (the same for every item here), weighted by the groups' weights."""
    total = 0.0
    for group, (a, b) in TYPES[population].items():
        p = LENIENT * np.array(a) + (1 - LENIENT) * np.array(b)
        total += WEIGHTS[group] * float(p[:4] @ POINTS / p[:4].sum())
    return total / sum(WEIGHTS.values())


def campaign(
    rng: np.random.Generator, population: str, sizes: tuple[int, ...], items: list[str]
) -> tuple[list[GradeRow], list[score_interval.Stratum]]:
    """One campaign's grade rows for one subject, and the same grades as the strata the
    interval resamples (a row per rater, the points per item, NaN for 不了解)."""
    rows, strata = [], []
    rid = 0
    for (group, (a, b)), n in zip(TYPES[population].items(), sizes, strict=True):
        grades = np.empty((n, len(items)), dtype=int)
        for r in range(n):
            rid += 1
            p = a if rng.random() < LENIENT else b
            grades[r] = rng.choice(5, size=len(items), p=p)
            for item, g in zip(items, grades[r], strict=True):
                rows.append(GradeRow(group, 1, item, KEYS[g], rid))
        pts = np.where(grades < 4, np.append(POINTS, 0.0)[grades], np.nan)
        strata.append(score_interval.Stratum(pts, WEIGHTS[group]))
    return rows, strata


def _tally(truth: float, bounds: list[tuple[float, float]]) -> dict[str, float]:
    lows = np.array([b[0] for b in bounds])
    highs = np.array([b[1] for b in bounds])
    below = float(np.mean(truth < lows))
    above = float(np.mean(truth > highs))
    cover = 1 - below - above
    return {
        "coverage": cover,
        "se": float(np.sqrt(cover * (1 - cover) / len(bounds))),
        "below": below,
        "above": above,
        "width": float(np.mean(highs - lows)),
    }


def run(reps: int, draws: int, seed: int, compare: bool) -> list[dict[str, Any]]:
    """Coverage, tails and mean width per case (and per method with ``compare``)."""
    cfg = parse(DEFAULT_CONFIG)
    items = [i.key for i in cfg.items]
    weights = [i.weight for i in cfg.scored_items]
    rng = np.random.default_rng(seed)
    out = []
    for population, sizes in CASES:
        truth = true_score(population)
        found: dict[str, list[tuple[float, float]]] = {}
        spent = 0.0
        for rep in range(reps):
            rows, strata = campaign(rng, population, sizes, items)
            if compare:
                for name, b in score_interval.candidates(
                    strata, weights, seed=rep, draws=draws
                ).items():
                    found.setdefault(name, []).append((max(b[0], 0.0), min(b[1], 100.0)))
                continue
            started = time.perf_counter()
            score_interval.interval(strata, weights, seed=rep, draws=draws)
            spent += time.perf_counter() - started
            r = subject_result(rows, cfg, subject_id=1, k=1, seed=rep, draws=draws)
            assert r.score_low is not None and r.score_high is not None
            found.setdefault(score_interval.METHOD, []).append((r.score_low, r.score_high))
        for name, bounds in found.items():
            row = {"population": population, "truth": truth, "sizes": sizes, "method": name}
            row |= _tally(truth, bounds)
            row["ms"] = 1000 * spent / reps if not compare else None
            out.append(row)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=1000)
    parser.add_argument("--draws", type=int, default=score_interval.DRAWS)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--compare", action="store_true", help="every candidate method")
    args = parser.parse_args()
    started = time.perf_counter()
    print(f"reps={args.reps} draws={args.draws} seed={args.seed}")  # noqa: T201
    for row in run(args.reps, args.draws, args.seed, args.compare):
        timing = f", {row['ms']:.1f} ms per interval" if row["ms"] is not None else ""
        print(  # noqa: T201
            f"{row['population']} (true {row['truth']:.1f}) raters {row['sizes']}"
            f" {row['method']}: coverage {row['coverage']:.3f} (± {row['se']:.3f}),"
            f" true below {row['below']:.3f}, above {row['above']:.3f},"
            f" mean width {row['width']:.1f} points{timing}"
        )
    print(f"{time.perf_counter() - started:.0f} s")  # noqa: T201


if __name__ == "__main__":
    main()
