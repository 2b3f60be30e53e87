"""The two survey sources come from the functions that publish them, never recomputed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlmodel import Session

from analytics.assessment import sources
from analytics.evaluation.service import evaluation_results
from analytics.indicators.service import ranking
from service.db import utcnow
from surveys.evaluation import service as evaluation
from surveys.evaluation.models import (
    EvaluationSubject,
)
from surveys.forms.models import Campaign
from tests.analytics.assessment.conftest import World, rate_teams


def test_public_source_is_the_published_index(session: Session, world: World) -> None:
    subjects = evaluation.subjects(session, ids=world.teams)
    got = sources.public_scores(
        session, subjects=subjects, campaign_ids=[world.syn.campaign_id], min_group_size=5
    )
    rows = {r["unit_code"]: r for r in ranking(session, campaign_id=world.syn.campaign_id).rows}
    for s in subjects:
        assert s.id is not None
        row = rows[world.syn.unit_codes[world.syn.unit_ids.index(s.unit_id)]]
        cell = got[s.id]
        assert cell is not None
        assert (cell.score, cell.low, cell.high, cell.n) == pytest.approx(
            (row["index"], row["ci_low"], row["ci_high"], row["n"])
        )


def test_two_campaigns_pool_as_independent_samples() -> None:
    a = sources.Measured(80.0, 76.08, 83.92, 100)  # se 2
    b = sources.Measured(70.0, 64.12, 75.88, 50)  # se 3
    got = sources._pooled([a, b], "x")
    assert got is not None
    se = (2.0**2 + 3.0**2) ** 0.5 / 2
    assert got.score == pytest.approx(75.0)
    assert got.high - got.score == pytest.approx(1.959964 * se, abs=1e-3)
    assert got.n == 150


def test_evaluation_source_is_the_evaluations_score(session: Session, world: World) -> None:
    rate_teams(session, world)
    campaign = session.get(Campaign, world.evaluation_campaign_id)
    assert campaign is not None
    subjects = [s for s in (session.get(EvaluationSubject, t) for t in world.teams) if s]
    published = evaluation_results(session, campaign=campaign, subjects=subjects, k=5)
    got = sources.evaluation_scores(
        session,
        subjects=subjects,
        campaign_ids=[world.evaluation_campaign_id],
        min_group_size=5,
    )
    shown = 0
    for r in published.subjects:
        cell = got[r.subject_id]
        if r.suppressed or r.score is None:
            assert cell is None
            continue
        shown += 1
        assert cell is not None
        assert (cell.score, cell.low, cell.high) == pytest.approx(
            (r.score, r.score_low, r.score_high)
        )
    assert shown > 0


def test_evaluation_still_open_gives_no_score(session: Session, world: World) -> None:
    rate_teams(session, world)
    session.exec(  # type: ignore[call-overload]
        update(Campaign)
        .where(Campaign.id == world.evaluation_campaign_id)
        .values(closes_at=utcnow() + timedelta(days=1))
    )
    session.commit()
    subjects = evaluation.subjects(session, ids=world.teams)
    got = sources.evaluation_scores(
        session, subjects=subjects, campaign_ids=[world.evaluation_campaign_id], min_group_size=5
    )
    assert all(v is None for v in got.values())
