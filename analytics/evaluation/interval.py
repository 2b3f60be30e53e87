"""The weighted score of a subject and its 95% interval, by a stratified bootstrap over raters.

Raters are resampled with replacement within each published rater group (stratum), so the
group weights stay fixed as the scheme fixes them; a rater carries every grade of their
sheet, so the items' correlation within a rater is kept. Each stratum of n raters is
resampled n - 1 times (Rao and Wu's rescaling bootstrap), which makes the resampled means'
variance the unbiased one.

The interval is Efron's BCa (bias-corrected and accelerated) percentile interval of the
draws, with Student's t quantile (Satterthwaite's degrees of freedom over the strata) in place
of the normal one, as Hesterberg's "expanded" percentile interval does: the bias correction
is the share of draws under the score, the acceleration comes from a jackknife over raters
within their groups. When it is shorter than the score +/- t x the draws' standard deviation,
its two arms are scaled alike to that width: with groups of three the draws (two raters of
three) are too lumpy for their percentiles, and the BCa alone covered 89-92%. The symmetric
score +/- t x SE (used until 2026-12-06) ignored that the 0 points of 不称职 skew the score to
the left: with groups of five the true score fell under it 4-7% of the time and over it
1-2%. Measured coverage per case and tail: ``bench/evaluation_interval.py``, figures in
``docs/evaluation.md``.

Unanimous raters give a zero-width interval: the draws measure how raters differ, and none
did. A floor tried (in each group, a pseudo-rater at each end of the scale, drawn with a
small probability, as a Wilson-like pseudo-count) covered 99-100% and made small groups'
intervals 1.2-3.3 times as wide, so none is applied; the docs say what a zero width means.

The point estimate and every resample go through the same function (``_scores``), so the
bootstrap cannot drift from the score it is the interval of.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import special

from analytics.indicators.distributions import norm_ppf, t_ppf

DRAWS = 2000
LEVEL = 0.95
METHOD = "bca_t_wide"


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


def _jackknife(strata: Sequence[Stratum], item_weights: np.ndarray) -> np.ndarray:
    """The score with each rater left out in turn (one row per rater, stratum by stratum)."""
    sizes = [len(s.points) for s in strata]
    rows = sum(sizes)
    counts = []
    start = 0
    for n in sizes:
        c = np.ones((rows, n))
        c[start : start + n] -= np.eye(n)
        counts.append(c)
        start += n
    return _scores(strata, counts, item_weights)


def acceleration(strata: Sequence[Stratum], item_weights: np.ndarray) -> float:
    """BCa's acceleration from the jackknife over raters, stratified (Davison and Hinkley,
    1997, section 3.7): a = sum(l^3 / n^3) / (6 (sum(l^2 / n^2))^1.5) over every rater, l a
    rater's jackknife influence within their group, n the group's raters."""
    leave_out = _jackknife(strata, item_weights)
    cubes = squares = 0.0
    start = 0
    for s in strata:
        n = len(s.points)
        part = leave_out[start : start + n]
        start += n
        if n < 2 or np.isnan(part).any():
            continue
        infl = (n - 1) * (part.mean() - part)
        cubes += float((infl**3).sum()) / n**3
        squares += float((infl**2).sum()) / n**2
    if squares <= 0:
        return 0.0
    return cubes / (6.0 * squares**1.5)


def _bca(values: np.ndarray, centre: float, accel: float, crit: float) -> tuple[float, float]:
    """The BCa interval's ends, ``crit`` standing for the normal quantile (Efron, 1987):
    the bias correction from the share of draws under the score (ties count half)."""
    below = float(np.mean(values < centre - 1e-9) + 0.5 * np.mean(np.abs(values - centre) <= 1e-9))
    edge = 0.5 / len(values)
    z0 = float(norm_ppf(min(max(below, edge), 1 - edge)))
    ends = []
    for w in (-crit, crit):
        shifted = z0 + w
        alpha = float(special.ndtr(z0 + shifted / (1 - accel * shifted)))
        ends.append(float(np.quantile(values, min(max(alpha, 0.0), 1.0))))
    return ends[0], ends[1]


def bootstrap(
    strata: Sequence[Stratum], item_weights: Sequence[float], *, seed: int, draws: int = DRAWS
) -> tuple[list[Stratum], np.ndarray, float] | None:
    """The strata in canonical order, the scores of ``draws`` stratified resamples, and the
    score (None when there is nothing to resample)."""
    strata = [Stratum(canonical(s.points), s.weight) for s in strata if len(s.points)]
    if not strata:
        return None
    rng = np.random.default_rng(seed)
    # n - 1 draws from a stratum of n raters (Rao and Wu's rescaling bootstrap): resampling
    # n understates the variance of a mean by (n - 1) / n, a fifth with groups of five.
    counts = [_resample(rng, len(s.points), draws) for s in strata]
    values = _scores(strata, counts, np.asarray(item_weights, float))
    values = values[~np.isnan(values)]
    centre = score(strata, item_weights)
    if len(values) < 2 or centre is None:
        return None
    return strata, values, centre


def candidates(
    strata: Sequence[Stratum],
    item_weights: Sequence[float],
    *,
    seed: int,
    draws: int = DRAWS,
    level: float = LEVEL,
) -> dict[str, tuple[float, float]]:
    """Every method's interval from the same draws (``bench/evaluation_interval.py`` compares
    them): ``t`` the score +/- t x the draws' standard deviation (the method until
    2026-12-06); ``bca`` Efron's BCa; ``bca_t`` BCa with Student's t quantile (Satterthwaite's
    degrees of freedom) in place of the normal one; ``bca_t_wide`` (``METHOD``, the one used)
    ``bca_t`` with both arms scaled alike, when it is shorter, to the width of ``t``."""
    found = bootstrap(strata, item_weights, seed=seed, draws=draws)
    return {} if found is None else _from_draws(found, item_weights, level)[0]


def _from_draws(
    found: tuple[list[Stratum], np.ndarray, float], item_weights: Sequence[float], level: float
) -> tuple[dict[str, tuple[float, float]], float]:
    """Every method's interval and the standard error, from one set of draws."""
    strata, values, centre = found
    weights = np.asarray(item_weights, float)
    t = float(t_ppf(0.5 + level / 2, degrees_of_freedom(strata, weights)))
    z = float(norm_ppf(0.5 + level / 2))
    se = float(np.std(values, ddof=1))
    half = t * se
    accel = acceleration(strata, weights)
    bca_t = _bca(values, centre, accel, t)
    intervals = {
        "t": (centre - half, centre + half),
        "bca": _bca(values, centre, accel, z),
        "bca_t": bca_t,
        "bca_t_wide": _widened(bca_t, centre, 2 * half),
    }
    return intervals, se


def _widened(ends: tuple[float, float], centre: float, width: float) -> tuple[float, float]:
    """The interval's arms scaled alike so that it is at least ``width`` wide."""
    low, high = centre - ends[0], ends[1] - centre
    if low + high >= width or low + high <= 0:
        return ends
    factor = width / (low + high)
    return centre - low * factor, centre + high * factor


def measured(
    strata: Sequence[Stratum],
    item_weights: Sequence[float],
    *,
    seed: int,
    draws: int = DRAWS,
    level: float = LEVEL,
    method: str = METHOD,
) -> tuple[tuple[float, float], float] | None:
    """The score's interval by ``method`` and its bootstrap standard error, both from the
    same ``draws`` stratified resamples (None when there is nothing to resample). The
    standard error is what a composite of sources needs: the interval (BCa, clipped to the
    scale) does not give it back by its width."""
    found = bootstrap(strata, item_weights, seed=seed, draws=draws)
    if found is None:
        return None
    intervals, se = _from_draws(found, item_weights, level)
    return intervals[method], se


def interval(
    strata: Sequence[Stratum],
    item_weights: Sequence[float],
    *,
    seed: int,
    draws: int = DRAWS,
    level: float = LEVEL,
    method: str = METHOD,
) -> tuple[float, float] | None:
    """The score's interval by ``method`` over ``draws`` stratified bootstrap resamples
    (None when there is nothing to resample)."""
    found = measured(strata, item_weights, seed=seed, draws=draws, level=level, method=method)
    return None if found is None else found[0]


def standard_error(
    strata: Sequence[Stratum], item_weights: Sequence[float], *, seed: int, draws: int = DRAWS
) -> float | None:
    """The score's bootstrap standard error (the draws' standard deviation)."""
    found = measured(strata, item_weights, seed=seed, draws=draws)
    return None if found is None else found[1]


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
