"""The 民主测评 source on 0-100 whatever the scheme's points, with the evaluation's own
standard error (not read back from an interval that uses t and is clipped to the scale)."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import update
from sqlmodel import Session

from analytics.assessment import sources
from analytics.evaluation import interval as score_interval
from analytics.evaluation.interval import standard_error
from analytics.evaluation.service import score_measures
from analytics.indicators.distributions import t_ppf
from analytics.indicators.statistics import Z
from surveys.evaluation import service as evaluation
from surveys.evaluation.config import DEFAULT_CONFIG
from surveys.forms.models import Campaign
from tests.analytics.assessment.conftest import World, rate_teams


def _scores(session: Session, world: World) -> dict[int, sources.SourceScore | None]:
    return sources.evaluation_scores(
        session,
        subjects=evaluation.subjects(session, ids=world.teams),
        campaign_ids=[world.evaluation_campaign_id],
        min_group_size=5,
    )


def _set_config(session: Session, world: World, config: dict[str, object]) -> None:
    session.exec(  # type: ignore[call-overload]
        update(Campaign)
        .where(Campaign.id == world.evaluation_campaign_id)
        .values(evaluation=config)
    )
    session.commit()


def test_a_thousand_point_scheme_counts_like_a_hundred_point_one(
    session: Session, world: World
) -> None:
    rate_teams(session, world)
    _set_config(session, world, DEFAULT_CONFIG)
    hundred = _scores(session, world)
    tenfold = {
        **DEFAULT_CONFIG,
        "scale": [{**g, "points": g["points"] * 10} for g in DEFAULT_CONFIG["scale"]],  # type: ignore[attr-defined]
    }
    _set_config(session, world, tenfold)
    campaign = session.get(Campaign, world.evaluation_campaign_id)
    assert campaign is not None
    raw = score_measures(
        session, campaign=campaign, subjects=evaluation.subjects(session, ids=world.teams), k=5
    )
    thousand = _scores(session, world)
    shown = 0
    for sid, cell in hundred.items():
        other = thousand[sid]
        if cell is None:
            assert other is None
            continue
        shown += 1
        assert other is not None
        # The scheme's own score is on its points (up to 1000); the source is on 0-100.
        assert raw[sid].top == 1000 and raw[sid].score > 100
        assert other.score == pytest.approx(raw[sid].score / 10, abs=1e-6)
        for field in ("score", "low", "high", "se"):
            assert getattr(other, field) == pytest.approx(getattr(cell, field), abs=1e-5)
        assert 0 <= other.low <= other.score <= other.high <= 100
    assert shown > 0


def test_the_source_takes_the_evaluations_standard_error(session: Session, world: World) -> None:
    rate_teams(session, world)
    campaign = session.get(Campaign, world.evaluation_campaign_id)
    assert campaign is not None
    subjects = evaluation.subjects(session, ids=world.teams)
    measures = score_measures(session, campaign=campaign, subjects=subjects, k=5)
    got = _scores(session, world)
    assert measures
    for sid, m in measures.items():
        cell = got[sid]
        assert cell is not None and cell.se == pytest.approx(m.se, abs=1e-6)
        # The published interval as it is (t or BCa, clipped), beside the se the composite uses.
        assert (cell.low, cell.high) == pytest.approx((m.low, m.high), abs=1e-6)
        assert m.se > 0


def test_standard_error_is_the_stratified_mean_s_and_ignores_clipping() -> None:
    rng = np.random.default_rng(7)
    # Two groups of raters, one item; 40 and 60 raters, weights 60 and 40.
    a = rng.choice([100.0, 80.0, 60.0], size=(40, 1), p=[0.6, 0.3, 0.1])
    b = rng.choice([100.0, 80.0, 0.0], size=(60, 1), p=[0.5, 0.4, 0.1])
    strata = [score_interval.Stratum(a, 60.0), score_interval.Stratum(b, 40.0)]
    se = standard_error(strata, [1.0], seed=11, draws=4000)
    analytic = np.sqrt((0.6**2) * a.var(ddof=1) / len(a) + (0.4**2) * b.var(ddof=1) / len(b))
    assert se == pytest.approx(analytic, rel=0.06)
    # The same draws the published interval is made of: the t interval's half is t x se.
    lo, hi = score_interval.candidates(strata, [1.0], seed=11, draws=4000)["t"]
    df = score_interval.degrees_of_freedom(strata, np.array([1.0]))
    assert (hi - lo) / 2 == pytest.approx(float(t_ppf(0.975, df)) * se, rel=1e-9)
    # Nearly everyone gives the top grade: the interval is clipped at 100, so its width
    # understates the spread; the standard error is the draws' own.
    top = np.full((30, 1), 100.0)
    top[0, 0] = 0.0
    clipped = [score_interval.Stratum(top, 1.0)]
    se_top = standard_error(clipped, [1.0], seed=3)
    assert se_top is not None
    assert se_top == pytest.approx(top.std(ddof=1) / np.sqrt(30), rel=0.1)
    centre = float(top.mean())
    assert min(centre + Z * se_top, 100.0) - centre < Z * se_top
