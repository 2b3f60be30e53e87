"""Cronbach's alpha by simulation: coverage of Feldt's 95% interval as the product computes it.

Usage (from the repository root):

    .venv/bin/python bench/alpha_coverage.py                 # 2,000 samples per case
    .venv/bin/python bench/alpha_coverage.py --reps 500 --seed 7

Each case is a dimension of ``m`` questions (2, 3 or 5) answered by ``n`` respondents (10, 30
or 100) whose latent answers correlate with ``rho`` (0.3 or 0.6): ``z_iq = sqrt(rho) u_i +
sqrt(1 - rho) e_iq``, standard normal ``u`` and ``e``. Answers are either the latent values
("normal": the parallel-items model Feldt's interval is exact for) or ``clip(round(3.5 +
1.1 z_iq), 1, 5)`` ("1-5": what residents give). The true alpha is ``m rho / (1 + (m - 1)
rho)`` for normal answers, and the alpha of 400,000 simulated respondents for 1-5 answers.
Alpha and its interval come from the product's own ``cronbach_alpha`` and
``feldt_interval``. Printed per case: the share of intervals that cover the true alpha.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analytics.indicators.reliability import cronbach_alpha, feldt_interval  # noqa: E402

QUESTIONS = (2, 3, 5)
RHOS = (0.3, 0.6)
SIZES = (10, 30, 100)
SCALES = ("normal", "1-5")


def answers(rng: np.random.Generator, n: int, m: int, rho: float, scale: str) -> np.ndarray:
    z = np.sqrt(rho) * rng.standard_normal((n, 1)) + np.sqrt(1 - rho) * rng.standard_normal((n, m))
    return z if scale == "normal" else np.clip(np.rint(3.5 + 1.1 * z), 1, 5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=20261205)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    print("scale   m  rho    n  true_alpha  coverage")
    lowest = 1.0
    for scale in SCALES:
        for m in QUESTIONS:
            for rho in RHOS:
                if scale == "normal":
                    truth = m * rho / (1 + (m - 1) * rho)
                else:
                    truth = cronbach_alpha(answers(rng, 400_000, m, rho, scale))
                for n in SIZES:
                    hit = 0
                    for _ in range(args.reps):
                        x = answers(rng, n, m, rho, scale)
                        a = cronbach_alpha(x)
                        lo, hi = feldt_interval(a, n, m)
                        hit += bool(lo <= truth <= hi)
                    cov = hit / args.reps
                    lowest = min(lowest, cov)
                    print(f"{scale:6s} {m:2d} {rho:4.1f} {n:4d} {truth:11.3f} {100 * cov:8.1f}%")
    print(f"lowest coverage: {100 * lowest:.1f}%")


if __name__ == "__main__":
    main()
