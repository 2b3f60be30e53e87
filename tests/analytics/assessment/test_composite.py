"""The assessment's arithmetic on literals, each number recomputed independently."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from analytics.assessment import composite as comp

NAN = np.nan
W = np.array([30.0, 30.0, 25.0, 15.0])


def test_composite_against_numpy_weighted_average() -> None:
    rng = np.random.default_rng(7)
    scores = rng.uniform(40, 100, size=(12, 4))
    ses = rng.uniform(0, 4, size=(12, 4))
    got = comp.combine(scores, ses, W)
    expect = np.average(scores, axis=1, weights=W)
    assert np.allclose(got.value, expect)
    # Independent sources: variance of a weighted mean with normalised weights.
    p = W / W.sum()
    expect_se = np.sqrt((ses**2) @ (p**2))
    assert np.allclose(got.se, expect_se)
    z = sps.norm.ppf(0.975)
    assert np.allclose(got.low, expect - z * expect_se)
    assert np.allclose(got.high, expect + z * expect_se)
    assert got.complete.all()


def test_weights_are_normalised() -> None:
    scores = np.array([[80.0, 60.0, 90.0, 70.0]])
    a = comp.combine(scores, np.zeros_like(scores), W)
    b = comp.combine(scores, np.zeros_like(scores), W * 7.3)
    assert a.value[0] == pytest.approx(b.value[0])
    # 0.3*80 + 0.3*60 + 0.25*90 + 0.15*70 by hand
    assert a.value[0] == pytest.approx(24 + 18 + 22.5 + 10.5)
    assert a.low[0] == a.high[0] == pytest.approx(75.0)


def test_missing_source_flagged_and_composite_over_present() -> None:
    scores = np.array([[80.0, NAN, 90.0, 70.0], [80.0, 60.0, 90.0, 70.0]])
    got = comp.combine(scores, np.zeros_like(scores), W)
    assert got.complete.tolist() == [False, True]
    # Over the three present sources: (30*80 + 25*90 + 15*70) / 70
    assert got.value[0] == pytest.approx((2400 + 2250 + 1050) / 70)


def test_source_weighted_zero_is_not_missing() -> None:
    scores = np.array([[80.0, NAN, 90.0, 70.0]])
    w = np.array([30.0, 0.0, 25.0, 15.0])
    got = comp.combine(scores, np.zeros_like(scores), w)
    assert got.complete.tolist() == [True]
    assert got.value[0] == pytest.approx((2400 + 2250 + 1050) / 70)


def test_no_source_gives_no_composite() -> None:
    got = comp.combine(np.full((1, 4), NAN), np.zeros((1, 4)), W)
    assert np.isnan(got.value[0])
    assert not got.complete[0]


def test_rank_ranges_certain_when_every_score_is_a_point() -> None:
    scores = np.array([[70.0, 70, 70, 70], [90.0, 90, 90, 90], [80.0, 80, 80, 80]])
    rank, lo, hi = comp.rank_ranges(scores, np.zeros_like(scores), W, draws=200)
    assert rank.tolist() == [3, 1, 2]
    assert lo.tolist() == [3, 1, 2]
    assert hi.tolist() == [3, 1, 2]


def test_rank_ranges_certain_when_intervals_are_far_apart() -> None:
    scores = np.array([[50.0] * 4, [70.0] * 4, [90.0] * 4])
    ses = np.full_like(scores, 1.0)
    rank, lo, hi = comp.rank_ranges(scores, ses, W, draws=500)
    assert lo.tolist() == hi.tolist() == rank.tolist() == [3, 2, 1]


def test_rank_ranges_uncertain_when_intervals_overlap() -> None:
    # Two subjects 1 point apart, each source with an se of 5: either may come first.
    scores = np.array([[80.0] * 4, [81.0] * 4, [40.0] * 4])
    ses = np.full_like(scores, 5.0)
    rank, lo, hi = comp.rank_ranges(scores, ses, W, draws=2000)
    assert rank.tolist() == [2, 1, 3]
    assert (lo[:2] == 1).all() and (hi[:2] == 2).all()
    assert lo[2] == hi[2] == 3
    # Independent check: the share of draws where subject 0 beats subject 1 is
    # P(N(-1, se_d) > 0), se_d the se of the difference of the two composites.
    p = W / W.sum()
    se_c = np.sqrt(np.sum(p**2 * 25.0))
    expect = 1 - sps.norm.cdf(1.0 / (np.sqrt(2) * se_c))
    rng = np.random.default_rng(comp.SEED)
    noise = rng.standard_normal((2000, 3, 4))
    sim = (scores[None] + noise * ses[None]) @ p
    assert np.mean(sim[:, 0] > sim[:, 1]) == pytest.approx(expect, abs=0.04)


def test_simulated_composite_matches_the_analytic_interval() -> None:
    scores = np.array([[80.0, 70.0, 90.0, 60.0]])
    ses = np.array([[2.0, 3.0, 0.0, 1.0]])
    got = comp.combine(scores, ses, W)
    rng = np.random.default_rng(1)
    sim = (scores + rng.standard_normal((200_000, 4)) * ses) @ (W / W.sum())
    lo, hi = np.quantile(sim, [0.025, 0.975])
    assert lo == pytest.approx(got.low[0], abs=0.05)
    assert hi == pytest.approx(got.high[0], abs=0.05)


def test_weight_schemes_move_each_weight_ten_points() -> None:
    base = {"public": 30.0, "evaluation": 30.0, "results": 25.0, "reform": 5.0}
    names = dict(comp.weight_schemes(list(base), base))
    assert names["public+10"] == {**base, "public": 40.0}
    assert names["reform-10"] == {**base, "reform": 0.0}
    assert len(names) == 8


def test_sensitivity_shows_who_changes_rank() -> None:
    sources = ["public", "evaluation", "results", "reform"]
    base = dict(zip(sources, W.tolist(), strict=True))
    # A leads on public opinion, B on results; the base puts A first by a hair.
    scores = np.array([[90.0, 80.0, 70.0, 80.0], [80.0, 80.0, 81.0, 80.0], [50.0] * 4])
    ranks = comp.weight_sensitivity(scores, sources, base)
    assert ranks["base"].tolist() == [1, 2, 3]
    # Recomputed by hand: public 20 instead of 30 -> A (20*90+30*80+25*70+15*80)/90
    a = (20 * 90 + 30 * 80 + 25 * 70 + 15 * 80) / 90
    b = (20 * 80 + 30 * 80 + 25 * 81 + 15 * 80) / 90
    assert (ranks["public-10"][0] < ranks["public-10"][1]) == (a > b)
    assert ranks["drop_public"].tolist() == [2, 1, 3]
    # Equal weights: A (90+80+70+80)/4 = 80 < B (80+80+81+80)/4 = 80.25
    assert ranks["equal_weights"].tolist() == [2, 1, 3]
    assert ranks["results+10"][2] == 3
    assert {"zscore", "minmax", "borda"} <= set(ranks)
