"""Coverage of the democratic evaluation's score interval (stratified bootstrap over raters).

Usage (from the repository root):

    .venv/bin/python bench/evaluation_interval.py                  # 1,000 campaigns per case
    .venv/bin/python bench/evaluation_interval.py --reps 400 --draws 1000 --seed 7

Each simulated campaign has the default scheme (four grades 100/80/60/0, 德能勤绩廉 equally
weighted, groups weighted 30/30/40). Raters of a group are lenient or strict (a latent type
per rater, so a sheet's grades are correlated as real ones are) and say 不了解 one time in ten;
the true score is computed from those probabilities. Every sheet goes through the product's
``subject_result``; coverage is how often its 95% interval holds the true score. Prints the
coverage per case (raters per group) with its Monte Carlo standard error and the mean width.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analytics.evaluation.config import parse  # noqa: E402
from analytics.evaluation.results import GradeRow, subject_result  # noqa: E402
from surveys.evaluation.config import DEFAULT_CONFIG  # noqa: E402

POINTS = np.array([100.0, 80.0, 60.0, 0.0])
# Per group, per rater type: the chances of excellent, competent, basic, incompetent, unknown.
TYPES = {
    "members": ([0.6, 0.3, 0.05, 0.0, 0.05], [0.2, 0.5, 0.2, 0.05, 0.05]),
    "staff": ([0.4, 0.4, 0.1, 0.0, 0.1], [0.1, 0.4, 0.3, 0.1, 0.1]),
    "served": ([0.3, 0.4, 0.1, 0.05, 0.15], [0.05, 0.3, 0.3, 0.2, 0.15]),
}
LENIENT = 0.5
CASES = [(5, 5, 5), (8, 12, 20), (15, 30, 40), (30, 60, 100)]


def true_score(weights: dict[str, float]) -> float:
    """The score the scheme gives the population: per group, the expected points of a known
    grade (the same for every item here), weighted by the groups' weights."""
    total = 0.0
    for group, (a, b) in TYPES.items():
        p = LENIENT * np.array(a) + (1 - LENIENT) * np.array(b)
        total += weights[group] * float(p[:4] @ POINTS / p[:4].sum())
    return total / sum(weights.values())


def campaign(rng: np.random.Generator, sizes: tuple[int, ...], items: list[str]) -> list[GradeRow]:
    """One campaign's grade rows for one subject."""
    keys = ["excellent", "competent", "basic", "incompetent", "unknown"]
    rows = []
    rid = 0
    for (group, (a, b)), n in zip(TYPES.items(), sizes, strict=True):
        for _ in range(n):
            rid += 1
            p = a if rng.random() < LENIENT else b
            for item, g in zip(items, rng.choice(5, size=len(items), p=p), strict=True):
                rows.append(GradeRow(group, 1, item, keys[g], rid))
    return rows


def run(reps: int, draws: int, seed: int) -> list[dict[str, Any]]:
    """Coverage and mean width per case."""
    cfg = parse(DEFAULT_CONFIG)
    items = [i.key for i in cfg.items]
    truth = true_score({g.key: g.weight for g in cfg.groups})
    rng = np.random.default_rng(seed)
    out = []
    for sizes in CASES:
        hits, widths = 0, []
        for rep in range(reps):
            r = subject_result(
                campaign(rng, sizes, items), cfg, subject_id=1, k=1, seed=rep, draws=draws
            )
            assert r.score_low is not None and r.score_high is not None
            hits += r.score_low <= truth <= r.score_high
            widths.append(r.score_high - r.score_low)
        cover = hits / reps
        out.append(
            {
                "sizes": sizes,
                "coverage": cover,
                "se": float(np.sqrt(cover * (1 - cover) / reps)),
                "width": float(np.mean(widths)),
            }
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=1000)
    parser.add_argument("--draws", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    started = time.perf_counter()
    print(
        f"reps={args.reps} draws={args.draws} seed={args.seed} true score={true_score({'members': 30, 'staff': 30, 'served': 40}):.2f}"
    )  # noqa: E501, T201
    for row in run(args.reps, args.draws, args.seed):
        print(  # noqa: T201
            f"raters per group {row['sizes']}: coverage {row['coverage']:.3f}"
            f" (± {row['se']:.3f}), mean width {row['width']:.1f} points"
        )
    print(f"{time.perf_counter() - started:.0f} s")  # noqa: T201


if __name__ == "__main__":
    main()
