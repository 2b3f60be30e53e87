"""The score's interval: its coverage measured by simulation, and what it must not depend on."""

from __future__ import annotations

import numpy as np
import pytest

from analytics.evaluation.config import parse
from analytics.evaluation.interval import (
    Stratum,
    acceleration,
    bootstrap,
    candidates,
    interval,
    score,
)
from analytics.evaluation.results import GradeRow, subject_result
from surveys.evaluation.config import DEFAULT_CONFIG

CFG = parse(DEFAULT_CONFIG)
POINTS = np.array([100.0, 80.0, 60.0, 0.0])
KEYS = ["excellent", "competent", "basic", "incompetent", "unknown"]
# Per group: the chances of each grade (不了解 last) for a lenient and a strict rater.
MIX = {
    "members": ([0.6, 0.3, 0.05, 0.0, 0.05], [0.2, 0.5, 0.2, 0.05, 0.05]),
    "staff": ([0.4, 0.4, 0.1, 0.0, 0.1], [0.1, 0.4, 0.3, 0.1, 0.1]),
    "served": ([0.3, 0.4, 0.1, 0.05, 0.15], [0.05, 0.3, 0.3, 0.2, 0.15]),
}


def truth() -> float:
    weights = {"members": 30, "staff": 30, "served": 40}
    total = 0.0
    for g, (a, b) in MIX.items():
        p = (np.array(a) + np.array(b)) / 2
        total += weights[g] * float(p[:4] @ POINTS / p[:4].sum())
    return total / 100


def sheets(rng: np.random.Generator, sizes: tuple[int, int, int]) -> list[GradeRow]:
    rows = []
    rid = 0
    for (group, (a, b)), n in zip(MIX.items(), sizes, strict=True):
        for _ in range(n):
            rid += 1
            p = a if rng.random() < 0.5 else b
            for item in CFG.items:
                rows.append(GradeRow(group, 1, item.key, KEYS[rng.choice(5, p=p)], rid))
    return rows


def test_coverage_of_the_95_interval() -> None:
    """300 simulated campaigns of 8, 12 and 20 raters: the interval holds the true score
    about 95% of the time (bench/evaluation_interval.py measures more cases)."""
    rng = np.random.default_rng(11)
    target = truth()
    reps = 300
    hits = 0
    for rep in range(reps):
        r = subject_result(sheets(rng, (8, 12, 20)), CFG, subject_id=1, k=1, seed=rep, draws=500)
        assert r.score_low is not None and r.score_high is not None
        assert r.score_low <= (r.score or 0) <= r.score_high
        hits += r.score_low <= target <= r.score_high
    # 95% +/- three Monte Carlo standard errors (1.3 points at 300 campaigns).
    assert 0.91 <= hits / reps <= 0.99


def test_interval_is_fixed_by_its_seed() -> None:
    rows = sheets(np.random.default_rng(1), (6, 6, 6))
    a = subject_result(rows, CFG, subject_id=1, k=1, seed=5, draws=300)
    b = subject_result(list(reversed(rows)), CFG, subject_id=1, k=1, seed=5, draws=300)
    assert (a.score_low, a.score_high) == (b.score_low, b.score_high)


def test_interval_ignores_the_order_of_raters() -> None:
    """The same raters in another order give the same interval (the draws must not tell
    which rater is which)."""
    rng = np.random.default_rng(2)
    pts = rng.choice([100.0, 80.0, 60.0, 0.0, np.nan], size=(9, 5))
    a = interval([Stratum(pts, 1.0)], [1] * 5, seed=3, draws=400)
    b = interval([Stratum(pts[rng.permutation(9)], 1.0)], [1] * 5, seed=3, draws=400)
    assert a == b


def test_unanimous_raters_give_a_zero_width_interval() -> None:
    """No floor: the draws measure how raters differ and none did (docs/evaluation.md says
    why the pseudo-count floor measured was not taken)."""
    pts = np.full((6, 5), 80.0)
    assert interval([Stratum(pts, 1.0)], [1] * 5, seed=1, draws=200) == (80.0, 80.0)
    assert score([Stratum(pts, 1.0)], [1] * 5) == 80.0


def test_bca_ends_recomputed_with_scipy() -> None:
    """One group, one item: the interval is the draws' quantiles at BCa's levels, the bias
    correction, acceleration and t quantile recomputed here with numpy and scipy.stats."""
    from scipy import stats

    pts = np.array([[100.0], [100.0], [80.0], [100.0], [0.0], [80.0], [100.0]])
    found = bootstrap([Stratum(pts, 1.0)], [1.0], seed=9, draws=2000)
    assert found is not None
    _, values, centre = found
    x = pts[:, 0]
    assert centre == pytest.approx(x.mean())
    n = len(x)
    # Rao and Wu: the draws' variance is the unbiased variance of the mean.
    assert np.var(values, ddof=1) == pytest.approx(np.var(x, ddof=1) / n, rel=0.1)
    below = np.mean(values < centre - 1e-9) + 0.5 * np.mean(np.isclose(values, centre))
    z0 = stats.norm.ppf(below)
    loo = np.array([np.delete(x, i).mean() for i in range(n)])
    infl = (n - 1) * (loo.mean() - loo)
    a = (infl**3).sum() / (6 * ((infl**2).sum()) ** 1.5)
    assert acceleration([Stratum(pts, 1.0)], np.array([1.0])) == pytest.approx(a)
    t = stats.t.ppf(0.975, n - 1)
    levels = [stats.norm.cdf(z0 + (z0 + w) / (1 - a * (z0 + w))) for w in (-t, t)]
    low, high = np.quantile(values, levels)
    assert candidates([Stratum(pts, 1.0)], [1.0], seed=9)["bca_t"] == pytest.approx((low, high))
    # Never shorter than the score +/- t x the draws' standard deviation, arms scaled alike.
    half = t * np.std(values, ddof=1)
    scale = max(1.0, 2 * half / (high - low))
    expected = (centre - (centre - low) * scale, centre + (high - centre) * scale)
    got = interval([Stratum(pts, 1.0)], [1.0], seed=9, draws=2000)
    assert got == pytest.approx(expected)
    # The 0 of 不称职 skews the score to the left: the interval reaches further down.
    assert got is not None and centre - got[0] > got[1] - centre


def test_stratified_acceleration_recomputed() -> None:
    """Two groups weighted 1:3: the acceleration from each rater's influence within their
    group, each leave-one-out score recomputed here as a weighted mean of group means."""
    a_pts = np.array([[100.0], [80.0], [60.0], [100.0]])
    b_pts = np.array([[0.0], [80.0], [100.0], [100.0], [80.0], [60.0]])
    strata = [Stratum(a_pts, 1.0), Stratum(b_pts, 3.0)]
    cubes = squares = 0.0
    for own, other, w_own, w_other in ((a_pts, b_pts, 1.0, 3.0), (b_pts, a_pts, 3.0, 1.0)):
        x = own[:, 0]
        n = len(x)
        loo = np.array(
            [(w_own * np.delete(x, i).mean() + w_other * other.mean()) / 4 for i in range(n)]
        )
        infl = (n - 1) * (loo.mean() - loo)
        cubes += (infl**3).sum() / n**3
        squares += (infl**2).sum() / n**2
    expected = cubes / (6 * squares**1.5)
    assert acceleration(strata, np.array([1.0])) == pytest.approx(expected)


# A high-scoring population (true score 92.5): 不称职 is rare, the score skewed to the left.
HIGH = {
    "members": ([0.85, 0.1, 0.0, 0.0, 0.05], [0.6, 0.3, 0.05, 0.0, 0.05]),
    "staff": ([0.8, 0.12, 0.0, 0.0, 0.08], [0.55, 0.3, 0.05, 0.02, 0.08]),
    "served": ([0.75, 0.15, 0.02, 0.01, 0.07], [0.5, 0.3, 0.08, 0.04, 0.08]),
}


def test_misses_are_balanced_where_the_symmetric_interval_was_lopsided() -> None:
    """400 high-scoring campaigns of 8, 12 and 20 raters, both methods from the same draws:
    the old symmetric interval misses mostly with the true score under it; BCa-t misses under
    it less, and its two tails are closer (bench/evaluation_interval.py measures more)."""
    rng = np.random.default_rng(0)
    weights = {"members": 30.0, "staff": 30.0, "served": 40.0}
    target = sum(
        weights[g]
        * float(((np.array(a) + np.array(b)) / 2)[:4] @ POINTS)
        / float(((np.array(a) + np.array(b)) / 2)[:4].sum())
        for g, (a, b) in HIGH.items()
    ) / sum(weights.values())
    assert 92 < target < 93
    misses = {"t": [0, 0], "bca_t_wide": [0, 0]}
    for rep in range(400):
        strata = []
        for (group, (a, b)), n in zip(HIGH.items(), (8, 12, 20), strict=True):
            types = rng.random(n) < 0.5
            grades = np.array([rng.choice(5, size=5, p=a if t else b) for t in types])
            pts = np.where(grades < 4, np.append(POINTS, 0.0)[grades], np.nan)
            strata.append(Stratum(pts, weights[group]))
        found = candidates(strata, [1.0] * 5, seed=rep, draws=500)
        for name, (low, high) in found.items():
            if name in misses:
                misses[name][0] += target < low
                misses[name][1] += target > high
    (t_under, t_over), (under, over) = misses["t"], misses["bca_t_wide"]
    assert t_under > 2 * t_over
    assert under < t_under and abs(under - over) < abs(t_under - t_over)
    assert (under + over) / 400 <= 0.08
