"""A small district for the assessment tests: a resident campaign over four units with
responses, a team subject leading each unit, one leader, and a democratic evaluation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import Session

from analytics.assessment import sources
from service.db import utcnow
from service.models import Role
from surveys.evaluation.models import (
    EvaluationCampaignSubject,
    EvaluationGrade,
    EvaluationResponse,
    EvaluationSubject,
    SubjectKind,
)
from surveys.forms.models import Campaign
from tests.factories import headers_for
from tests.synthetic import Synthetic, another_campaign


@dataclass
class World:
    syn: Synthetic
    evaluation_campaign_id: int
    teams: list[int]
    leader: int
    org: dict[str, str]


@pytest.fixture
def world(
    app: FastAPI,
    client: TestClient,
    session: Session,
    synthetic: Callable[..., Synthetic],
) -> World:
    syn = synthetic(n=800, units=4, areas=2, seed=3)
    ev = another_campaign(app.state.engine, syn)
    session.exec(  # type: ignore[call-overload]
        update(Campaign).where(Campaign.id == ev.campaign_id).values(kind="democratic_evaluation")
    )
    teams = []
    for i, uid in enumerate(syn.unit_ids):
        s = EvaluationSubject(kind=SubjectKind.team, name=f"班子{i + 1}", unit_id=uid)
        session.add(s)
        session.flush()
        assert s.id is not None
        teams.append(s.id)
    leader = EvaluationSubject(
        kind=SubjectKind.leader, name="张三", post="局长", unit_id=syn.unit_ids[0]
    )
    session.add(leader)
    session.commit()
    assert leader.id is not None
    org = headers_for(client, session, Role.organisation, "org1")
    return World(syn, ev.campaign_id, teams, leader.id, org)


@pytest.fixture
def evaluation_scores(monkeypatch: pytest.MonkeyPatch) -> dict[int, sources.Measured]:
    """Democratic-evaluation scores by subject id, served in place of the evaluation's own."""
    table: dict[int, sources.Measured] = {}

    def fake(
        session: Session, *, campaign_id: int, subject_ids: list[int], k: int
    ) -> dict[int, sources.Measured]:
        return {sid: table[sid] for sid in subject_ids if sid in table}

    monkeypatch.setattr(sources, "evaluation_measures", fake)
    return table


GRADES = ["excellent", "competent", "basic", "incompetent", "unknown"]


def rate_teams(session: Session, world: World, *, raters: int = 8) -> None:
    """Raters of two groups grade every team on every item; the evaluation then closes."""
    for pos, sid in enumerate(world.teams):
        session.add(
            EvaluationCampaignSubject(
                campaign_id=world.evaluation_campaign_id, subject_id=sid, position=pos
            )
        )
    hour = utcnow().replace(minute=0, second=0, microsecond=0) - timedelta(days=2)
    items = ["overall", "de", "neng", "qin", "ji", "lian"]
    for r in range(raters * 2):
        resp = EvaluationResponse(
            campaign_id=world.evaluation_campaign_id,
            rater_group="staff" if r % 2 else "members",
            submitted_hour=hour,
        )
        session.add(resp)
        session.flush()
        assert resp.id is not None
        for i, sid in enumerate(world.teams):
            for j, item in enumerate(items):
                grade = GRADES[(r + i + j) % (4 if i < 2 else 5)]
                session.add(
                    EvaluationGrade(response_id=resp.id, subject_id=sid, item=item, grade=grade)
                )
    session.exec(  # type: ignore[call-overload]
        update(Campaign)
        .where(Campaign.id == world.evaluation_campaign_id)
        .values(closes_at=utcnow() - timedelta(days=1))
    )
    session.commit()
