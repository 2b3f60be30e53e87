"""A finalised assessment is a record: finalising needs its democratic evaluations closed and
stores the results with their SHA-256; reads serve them whatever the data does afterwards.
Reads of the entered scores are audited like the results."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import timedelta
from typing import Any

from alembic import command
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, inspect, update
from sqlmodel import Session, col, select

from analytics.assessment import sources
from analytics.assessment.models import Assessment, AssessmentSnapshot
from analytics.assessment.results import compute_results
from service.audit import AuditEntry
from service.db import alembic_config, upgrade, utcnow
from service.localtime import local_time
from service.models import Role
from surveys.evaluation.models import EvaluationSubject
from surveys.forms.models import Campaign, SurveyResponse
from tests.analytics.assessment.conftest import World
from tests.analytics.assessment.test_api import BASE, _create, _score
from tests.conftest import wipe
from tests.factories import make_user
from tests.frontend.test_admin_units import sign_in


def _close_evaluation(session: Session, world: World, *, closed: bool = True) -> None:
    when = utcnow() + (timedelta(days=-1) if closed else timedelta(days=5))
    session.exec(  # type: ignore[call-overload]
        update(Campaign).where(Campaign.id == world.evaluation_campaign_id).values(closes_at=when)
    )
    session.commit()


def _ready(
    client: TestClient, world: World, table: dict[int, sources.Measured]
) -> tuple[int, dict[str, Any]]:
    """An assessment with every source for every team."""
    aid = _create(client, world)["id"]
    for i, t in enumerate(world.teams):
        assert _score(client, world, aid, t, "results", 60 + 7 * i).status_code == 201
        assert _score(client, world, aid, t, "reform", 90 - 6 * i).status_code == 201
        table[t] = sources.Measured(70.0 + 5 * i, 66.0 + 5 * i, 74.0 + 5 * i, 30)
    return aid, client.get(f"{BASE}/{aid}/results", headers=world.org).json()


def test_finalise_needs_its_evaluations_closed(
    client: TestClient, session: Session, world: World
) -> None:
    aid = _create(client, world)["id"]
    r = client.post(f"{BASE}/{aid}/finalise", headers=world.org)
    assert r.status_code == 409
    detail = r.json()["detail"]
    assert detail["reason"] == "evaluations_open"
    assert detail["campaign_ids"] == [world.evaluation_campaign_id]
    assert f"#{world.evaluation_campaign_id}" in detail["message"]
    assert "尚未结束" in detail["message"] and "not closed" in detail["message"]
    assert client.get(f"{BASE}/{aid}", headers=world.org).json()["finalised_at"] is None
    _close_evaluation(session, world)
    assert client.post(f"{BASE}/{aid}/finalise", headers=world.org).status_code == 200


def test_finalised_results_do_not_follow_the_data(
    app: FastAPI,
    client: TestClient,
    session: Session,
    world: World,
    evaluation_scores: dict[int, sources.Measured],
) -> None:
    aid, draft = _ready(client, world, evaluation_scores)
    assert draft["snapshot"] is False and draft["finalised_at_local"] is None
    _close_evaluation(session, world)
    assert client.post(f"{BASE}/{aid}/finalise", headers=world.org).status_code == 200
    first = client.get(f"{BASE}/{aid}/results", headers=world.org).json()
    assert first["snapshot"] is True
    assert first["subjects"] == draft["subjects"]
    row = session.get(AssessmentSnapshot, aid)
    assert row is not None
    assert first["snapshot_sha256"] == row.sha256 == hashlib.sha256(row.body.encode()).hexdigest()
    assert json.loads(row.body)["subjects"] == first["subjects"]
    assessment = session.get(Assessment, aid)
    assert assessment is not None and assessment.finalised_at is not None
    zone = app.state.settings.time_zone
    assert first["finalised_at_local"] == f"{local_time(assessment.finalised_at, zone)} {zone}"
    finalised = session.exec(
        select(AuditEntry).where(AuditEntry.action == "assessment.finalise")
    ).one()
    assert json.loads(finalised.detail)["snapshot_sha256"] == row.sha256

    # Everything the live results draw on changes.
    t0, t1, t2 = world.teams[:3]
    for sid, values in ((t0, {"is_active": False}), (t1, {"unit_id": world.syn.unit_ids[3]})):
        session.exec(  # type: ignore[call-overload]
            update(EvaluationSubject).where(col(EvaluationSubject.id) == sid).values(**values)
        )
    session.exec(  # type: ignore[call-overload]
        update(SurveyResponse)
        .where(col(SurveyResponse.unit_id) == world.syn.unit_ids[2])
        .values(flagged=True)
    )
    session.commit()
    evaluation_scores[t2] = sources.Measured(20.0, 10.0, 30.0, 30)
    _close_evaluation(session, world, closed=False)

    session.expire_all()
    assessment = session.get(Assessment, aid)
    assert assessment is not None
    now = compute_results(session, assessment=assessment, min_group_size=5).model_dump(mode="json")
    assert now["subjects"] != first["subjects"]
    live = {s["subject_id"]: s for s in now["subjects"]}
    stored = {s["subject_id"]: s for s in first["subjects"]}
    assert live[t1]["unit_code"] != stored[t1]["unit_code"]
    assert live[t2]["sources"]["evaluation"] != stored[t2]["sources"]["evaluation"]
    again = client.get(f"{BASE}/{aid}/results", headers=world.org).json()
    assert again["subjects"] == first["subjects"] and again["snapshot"] is True
    one = client.get(f"{BASE}/{aid}/results/{t0}", headers=world.org).json()
    assert one["subjects"] == [s for s in first["subjects"] if s["subject_id"] == t0]

    # The console says the results are the stored ones, and when they were finalised.
    with Session(app.state.engine, expire_on_commit=False) as s:
        user = make_user(s, Role.organisation, "org-page")
    sign_in(app, client, user)
    page = client.get(f"/admin/assessments/{aid}/results")
    assert page.status_code == 200
    assert 'data-testid="snapshot"' in page.text
    assert local_time(assessment.finalised_at, zone) in page.text
    assert row.sha256[:16] in page.text
    subject_page = client.get(f"/admin/assessments/{aid}/subjects/{t0}")
    assert subject_page.status_code == 200 and 'data-testid="snapshot"' in subject_page.text


def test_draft_page_says_it_is_live(
    app: FastAPI,
    client: TestClient,
    world: World,
    evaluation_scores: dict[int, sources.Measured],
) -> None:
    aid, _ = _ready(client, world, evaluation_scores)
    with Session(app.state.engine, expire_on_commit=False) as s:
        user = make_user(s, Role.organisation, "org-page")
    sign_in(app, client, user)
    page = client.get(f"/admin/assessments/{aid}/results")
    assert page.status_code == 200 and 'data-testid="live"' in page.text


def test_console_refuses_to_finalise_with_an_open_evaluation(
    app: FastAPI, client: TestClient, world: World
) -> None:
    aid = _create(client, world)["id"]
    with Session(app.state.engine, expire_on_commit=False) as s:
        user = make_user(s, Role.organisation, "org-page")
    csrf = sign_in(app, client, user)
    r = client.post(f"/admin/assessments/{aid}/finalise", data={"csrf_token": csrf, "confirm": "1"})
    assert r.status_code == 409
    errors = dict(re.findall(r'<span class="field-error" id="err-([\w-]+)">([^<]*)</span>', r.text))
    assert f"#{world.evaluation_campaign_id}" in errors["confirm"]


def test_reads_of_entered_scores_are_audited(
    app: FastAPI, client: TestClient, session: Session, world: World
) -> None:
    aid = _create(client, world)["id"]
    assert _score(client, world, aid, world.teams[0], "results", 80).status_code == 201
    assert client.get(f"{BASE}/{aid}/scores", headers=world.org).status_code == 200
    with Session(app.state.engine, expire_on_commit=False) as s:
        user = make_user(s, Role.organisation, "org-page")
    sign_in(app, client, user)
    assert client.get(f"/admin/assessments/{aid}").status_code == 200
    views = session.exec(
        select(AuditEntry)
        .where(AuditEntry.action == "assessment.scores.view")
        .order_by(col(AuditEntry.id))
    ).all()
    assert [(v.actor, v.target, json.loads(v.detail)["subjects"]) for v in views] == [
        ("org1", f"assessment:{aid}", [world.teams[0]]),
        ("org-page", f"assessment:{aid}", [world.teams[0]]),
    ]


def test_snapshot_migration_round_trip(database_url: str) -> None:
    cfg = alembic_config(database_url)
    engine = create_engine(database_url)
    try:
        command.downgrade(cfg, "0014")
        assert "assessment_snapshot" not in inspect(engine).get_table_names()
        upgrade(database_url)
        inspect_again = inspect(engine)
        assert "assessment_snapshot" in inspect_again.get_table_names()
        assert {c["name"] for c in inspect_again.get_columns("assessment_snapshot")} == {
            "assessment_id",
            "body",
            "sha256",
            "computed_at",
        }
    finally:
        upgrade(database_url)
        wipe(engine)
        engine.dispose()
