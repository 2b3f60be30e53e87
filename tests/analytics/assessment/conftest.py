"""A small district for the assessment tests: a resident campaign over four units with
responses, a team subject leading each unit, one leader, and a democratic evaluation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import Session

from analytics.assessment import sources
from service.models import Role
from surveys.evaluation.models import EvaluationSubject, SubjectKind
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
