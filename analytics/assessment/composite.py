"""The arithmetic of the annual assessment: pure numpy, no database.

A subject's composite is the weighted mean of its source scores, the weights normalised over
the sources it has. Sources are independent measurements (different people, different
offices), so the composite's standard error is ``sqrt(sum((w_s / W)^2 * se_s^2))``. Ranks are
uncertain because every source is: ``rank_ranges`` draws each source from the normal its
interval implies and reads each subject's rank in every draw. ``weight_sensitivity`` ranks the
subjects again under each weight moved by ten points and under the alternative schemes of
``analytics.indicators.sensitivity`` (equal weights, each source dropped, other normalisations),
whose functions it calls.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analytics.indicators.sensitivity import BASE, competition_ranks, rank_table
from analytics.indicators.statistics import Z

SOURCES = ("public", "evaluation", "results", "reform")
RANK_DRAWS = 2000
RANK_QUANTILES = (0.025, 0.975)
WEIGHT_STEP = 10.0
SEED = 20261206


@dataclass
class Combined:
    """Per subject: composite, its standard error and interval, and which sources were used."""

    value: np.ndarray
    se: np.ndarray
    low: np.ndarray
    high: np.ndarray
    complete: np.ndarray


def combine(scores: np.ndarray, ses: np.ndarray, weights: np.ndarray) -> Combined:
    """Subjects x sources scores (NaN: missing) -> composite over the sources present.

    A source weighted 0 never counts as missing. A subject with no weighted source has NaN."""
    present = ~np.isnan(scores)
    w = np.where(present, weights[None, :], 0.0)
    total = w.sum(axis=1)
    safe = np.where(total > 0, total, 1.0)
    share = w / safe[:, None]
    x = np.where(present, scores, 0.0)
    s = np.where(present, ses, 0.0)
    value = np.where(total > 0, (share * x).sum(axis=1), np.nan)
    se = np.where(total > 0, np.sqrt((share**2 * s**2).sum(axis=1)), np.nan)
    needed = weights > 0
    complete = (present | ~needed[None, :]).all(axis=1) & (total > 0)
    return Combined(value=value, se=se, low=value - Z * se, high=value + Z * se, complete=complete)


def _draw_ranks(draws: np.ndarray, chunk: int = 250) -> np.ndarray:
    """Competition ranks (1 the highest; ties share) of every row of draws x subjects."""
    out = np.empty(draws.shape, dtype=np.int64)
    for start in range(0, len(draws), chunk):
        d = np.round(draws[start : start + chunk], 6)
        out[start : start + chunk] = 1 + (d[:, None, :] > d[:, :, None]).sum(axis=2)
    return out


def rank_ranges(
    scores: np.ndarray,
    ses: np.ndarray,
    weights: np.ndarray,
    *,
    draws: int = RANK_DRAWS,
    seed: int = SEED,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rank, rank_low, rank_high) of subjects that all have every weighted source.

    Each draw takes every source score from N(score, se) independently, recombines the
    composites and ranks them; the range is the 2.5% and 97.5% quantiles of each subject's
    rank. A source given without an interval (se 0) is the same in every draw, so subjects
    whose scores are all points keep one rank."""
    n = len(scores)
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    w = weights / weights.sum()
    rank = competition_ranks(scores @ w)
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((draws, *scores.shape))
    sim = (scores[None, :, :] + noise * ses[None, :, :]) @ w
    ranks = np.sort(_draw_ranks(sim), axis=0)
    lo = ranks[int(np.ceil(RANK_QUANTILES[0] * draws)) - 1]
    hi = ranks[int(np.ceil(RANK_QUANTILES[1] * draws)) - 1]
    # A rank range always holds the published rank (ties on points can shift the quantiles).
    return rank, np.minimum(lo, rank), np.maximum(hi, rank)


def weight_schemes(
    sources: list[str], base: dict[str, float]
) -> list[tuple[str, dict[str, float]]]:
    """(name, weights) of each weight moved up and down by ten points, the others unchanged."""
    out: list[tuple[str, dict[str, float]]] = []
    for s in sources:
        for sign, tag in ((1, "+"), (-1, "-")):
            moved = {**base, s: max(base[s] + sign * WEIGHT_STEP, 0.0)}
            if sum(moved.values()) > 0 and moved != base:
                out.append((f"{s}{tag}{int(WEIGHT_STEP)}", moved))
    return out


def weight_sensitivity(
    scores: np.ndarray, sources: list[str], base: dict[str, float]
) -> dict[str, np.ndarray]:
    """Ranks of complete subjects (rows) under the base, each moved weight and each scheme of
    ``analytics.indicators.sensitivity`` (equal weights, a source dropped, z-score, min-max and
    Borda normalisation)."""
    _values, ranks = rank_table(scores, sources, base)
    out = {BASE: ranks.pop(BASE)}
    for name, weights in weight_schemes(sources, base):
        wv = np.array([weights[s] for s in sources])
        out[name] = competition_ranks(scores @ wv / wv.sum())
    out.update(ranks)
    return out
