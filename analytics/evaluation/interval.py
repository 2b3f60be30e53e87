"""The weighted score of a subject and its 95% interval, by a stratified bootstrap over raters.

Raters are resampled with replacement within each published rater group (stratum), so the
group weights stay fixed as the scheme fixes them; a rater carries every grade of their
sheet, so the items' correlation within a rater is kept. Each stratum of n raters is
resampled n - 1 times (Rao and Wu's rescaling bootstrap), which makes the resampled means'
variance the unbiased one. The interval is the score plus or minus the bootstrap's standard
error times Student's t quantile, with Satterthwaite's degrees of freedom over the strata.
Measured coverage (``bench/evaluation_interval.py``, figures in ``docs/evaluation.md``):
about 95% from groups of eight up, about 92% with three groups of five.

The point estimate and every resample go through the same function (``_scores``), so the
bootstrap cannot drift from the score it is the interval of.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from analytics.indicators.distributions import t_ppf

DRAWS = 2000
LEVEL = 0.95


@dataclass(frozen=True)
class Stratum:
    """One published rater group: a row per rater, a column per scored item, the points of
    the rater's grade (NaN for 不了解 or no grade); and the group's weight in the scheme."""

    points: np.ndarray
    weight: float


def canonical(points: np.ndarray) -> np.ndarray:
    """The raters' rows in an order that depends only on their grades (not on arrival or on
    which group inside a merged group they came from), so the bootstrap's draws do not tell
    anything the counts do not."""
    if len(points) == 0:
        return points
    keyed = np.nan_to_num(points, nan=-1.0)
    return points[np.lexsort(keyed.T[::-1])]


def _scores(
    strata: Sequence[Stratum], counts: Sequence[np.ndarray], item_weights: np.ndarray
) -> np.ndarray:
    """The score for each row of rater multiplicities (how often each rater is drawn, one row
    per draw).

    Per stratum, an item's mean over its known grades; the stratum's mean is the
    item-weighted mean over the items someone graded; the score is the weighted mean of the
    strata's means, weights normalised over the strata with a mean. ``einsum`` rather than
    ``@``: BLAS's threads cost more than they save on matrices this small.
    """
    draws = counts[0].shape[0] if counts else 1
    total = np.zeros(draws)
    weight = np.zeros(draws)
    for stratum, c in zip(strata, counts, strict=True):
        known = ~np.isnan(stratum.points)
        sums = np.einsum("dn,ni->di", c, np.where(known, stratum.points, 0.0))
        n_known = np.einsum("dn,ni->di", c, known.astype(float))
        has = n_known > 0
        means = np.divide(sums, n_known, out=np.zeros_like(sums), where=has)
        w_items = has * item_weights
        w_sum = w_items.sum(axis=1)
        block_mean = np.divide(
            (means * w_items).sum(axis=1), w_sum, out=np.zeros(draws), where=w_sum > 0
        )
        present = (w_sum > 0) * stratum.weight
        total += present * block_mean
        weight += present
    return np.divide(total, weight, out=np.full(draws, np.nan), where=weight > 0)


def score(strata: Sequence[Stratum], item_weights: Sequence[float]) -> float | None:
    """The weighted score of the raters as they are (no resampling)."""
    if not strata:
        return None
    everyone = [np.ones((1, len(s.points))) for s in strata]
    value = float(_scores(strata, everyone, np.asarray(item_weights, float))[0])
    return None if np.isnan(value) else value


def seed_for(*parts: object) -> int:
    """A seed fixed by what is computed (campaign, subject), so every view of a result shows
    the same interval and repeated views cannot average the randomness away."""
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def _resample(rng: np.random.Generator, n: int, draws: int) -> np.ndarray:
    """How often each of n raters is drawn, per draw, in n - 1 draws with replacement (a row
    per draw): the indices are drawn at once and counted with one ``bincount``."""
    picks = rng.integers(0, n, size=(draws, max(n - 1, 1))) + (np.arange(draws) * n)[:, None]
    return np.bincount(picks.ravel(), minlength=draws * n).reshape(draws, n).astype(float)


def interval(
    strata: Sequence[Stratum],
    item_weights: Sequence[float],
    *,
    seed: int,
    draws: int = DRAWS,
    level: float = LEVEL,
) -> tuple[float, float] | None:
    """The score plus or minus t times its standard error over ``draws`` stratified bootstrap
    resamples (None when there is nothing to resample)."""
    strata = [Stratum(canonical(s.points), s.weight) for s in strata if len(s.points)]
    if not strata:
        return None
    rng = np.random.default_rng(seed)
    # n - 1 draws from a stratum of n raters (Rao and Wu's rescaling bootstrap): resampling
    # n understates the variance of a mean by (n - 1) / n, a fifth with groups of five.
    counts = [_resample(rng, len(s.points), draws) for s in strata]
    weights = np.asarray(item_weights, float)
    values = _scores(strata, counts, weights)
    values = values[~np.isnan(values)]
    centre = score(strata, item_weights)
    if len(values) < 2 or centre is None:
        return None
    half = float(t_ppf(0.5 + level / 2, degrees_of_freedom(strata, weights))) * float(
        np.std(values, ddof=1)
    )
    return centre - half, centre + half


def degrees_of_freedom(strata: Sequence[Stratum], item_weights: np.ndarray) -> float:
    """Satterthwaite's degrees of freedom of the weighted mean of the strata's means, from
    each rater's own item-weighted mean: with groups of five, a normal quantile would make
    the interval too short (coverage under 90% measured)."""
    parts, dfs = [], []
    total = sum(s.weight for s in strata)
    for s in strata:
        known = ~np.isnan(s.points)
        w = known * item_weights
        has = w.sum(axis=1) > 0
        own = (np.where(known, s.points, 0.0) * w).sum(axis=1)[has] / w.sum(axis=1)[has]
        if len(own) < 2 or total <= 0:
            continue
        parts.append((s.weight / total) ** 2 * float(np.var(own, ddof=1)) / len(own))
        dfs.append(len(own) - 1)
    denom = sum(a * a / d for a, d in zip(parts, dfs, strict=True))
    if denom <= 0:
        return float(max(sum(dfs), 1))
    return max(sum(parts) ** 2 / denom, 1.0)
