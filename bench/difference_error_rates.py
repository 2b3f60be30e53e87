"""Difference verdicts by simulation: family-wise false verdicts under no difference, and power.

Usage (from the repository root):

    .venv/bin/python bench/difference_error_rates.py               # 4,000 answers per case
    .venv/bin/python bench/difference_error_rates.py --reps 1000 --seed 7

Each case draws two groups of respondents who answer four dimensions on a 1-5 scale. A
respondent's answers share a personal component (correlation about 0.36 between dimensions,
as on real questionnaires), so the tests of one answer are dependent. Each dimension's score
(0-100), standard error and size go through the service's own row builders
(``analytics.indicators.difference``: Welch test per dimension, the composite index, Holm over
the dimensions and the composite), exactly as ``GET .../difference`` computes them from the
indicator rows. "Unit vs rest" cases use a small unit against a large, more spread rest of the
district: the test of a unit against the district.

Under no difference, a false verdict is any "higher" or "lower" in the answer (family-wise);
with a difference of ``--effect`` score points on one dimension (the other three equal),
power is the share of answers that call that dimension "higher". Prints one line per case.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analytics.indicators.difference import (  # noqa: E402
    _between_units,
    _composite,
    _verdicts,
)

DIMS = ["attitude", "efficiency", "integrity", "results"]
WEIGHTS = dict.fromkeys(DIMS, 1.0)
# (name, n_a, n_b, sd of the b group's answers relative to a's)
CASES = [
    ("two units, 10 vs 10", 10, 10, 1.0),
    ("two units, 40 vs 40", 40, 40, 1.0),
    ("two units, 150 vs 150", 150, 150, 1.0),
    ("unit vs rest, 15 vs 300", 15, 300, 1.4),
    ("unit vs rest, 60 vs 600", 60, 600, 1.4),
]


def group(rng: np.random.Generator, n: int, spread: float, shift: float) -> dict[str, Any]:
    """Indicator rows (one per dimension) of n respondents; ``shift`` raises the first
    dimension's latent answers (in scale points)."""
    person = rng.standard_normal((n, 1))
    latent = 3.2 + spread * (0.6 * person + 0.8 * rng.standard_normal((n, len(DIMS))))
    latent[:, 0] += shift
    answers = np.clip(np.rint(latent), 1, 5)
    scores = 25.0 * (answers - 1.0)
    rows = {}
    for j, d in enumerate(DIMS):
        s = scores[:, j]
        rows[d] = {
            "score": float(s.mean()),
            "score_se": float(s.std(ddof=1) / np.sqrt(n)),
            "n_eff": float(n),
            "n": n,
            "suppressed": False,
        }
    return rows


def one_answer(
    rng: np.random.Generator, n_a: int, n_b: int, spread_b: float, shift: float
) -> list[dict[str, Any]]:
    side_a = group(rng, n_a, 1.0, shift)
    side_b = group(rng, n_b, spread_b, 0.0)
    rows = _between_units("A", "B", dict(side_a), dict(side_b), DIMS)
    ranked = [
        {"unit_code": "A", "raw_index": 0.0, "suppressed": False},
        {"unit_code": "B", "raw_index": 0.0, "suppressed": False},
    ]
    rows.append(_composite(rows, WEIGHTS, ranked, "A", "B"))
    _verdicts(rows)
    return rows


def effect_in_points(rng: np.random.Generator, shift: float, n: int = 200_000) -> float:
    """The score difference (0-100) that a latent shift of the first dimension makes."""
    return float(group(rng, n, 1.0, shift)["attitude"]["score"]) - float(
        group(rng, n, 1.0, 0.0)["attitude"]["score"]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=20261205)
    parser.add_argument("--shift", type=float, default=0.4, help="latent shift, scale points")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    effect = effect_in_points(rng, args.shift)
    print(f"reps {args.reps}, seed {args.seed}, dimensions {len(DIMS)} + composite, Holm 0.05")
    print(f"effect: latent shift {args.shift} scale points = {effect:.1f} score points")
    started = time.perf_counter()
    for name, n_a, n_b, spread_b in CASES:
        false_any = 0
        hits = 0
        for _ in range(args.reps):
            rows = one_answer(rng, n_a, n_b, spread_b, 0.0)
            false_any += any(r.get("verdict") in ("higher", "lower") for r in rows)
            rows = one_answer(rng, n_a, n_b, spread_b, args.shift)
            hits += rows[0].get("verdict") == "higher"
        se = np.sqrt(0.05 * 0.95 / args.reps)
        print(
            f"{name:26s} family-wise false verdicts {100 * false_any / args.reps:5.2f}% "
            f"(+/- {196 * se:.2f}), power at {effect:.1f} points {100 * hits / args.reps:5.1f}%"
        )
    print(f"elapsed {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
