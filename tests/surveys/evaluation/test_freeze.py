"""The window cannot thaw a democratic evaluation: once it opened (or a sheet is in) its
opening cannot move later, so its configuration stays frozen; once closed it cannot reopen.
A resident questionnaire freezes on its first response, which no window change undoes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import Session

from service.db import utcnow
from service.models import Role, User
from surveys.evaluation.config import DEFAULT_CONFIG
from surveys.evaluation.models import EvaluationResponse
from surveys.forms.models import Campaign
from tests.factories import headers_for, make_user
from tests.frontend.test_admin_evaluation import _local
from tests.frontend.test_admin_units import field_errors, sign_in
from tests.surveys.evaluation.factories import codes, create_evaluation, make_subjects, sheet
from tests.surveys.forms.factories import (
    create_campaign,
    create_survey,
    make_units,
    response_body,
    survey_body,
)

FIVE = {
    **DEFAULT_CONFIG,
    "scale": [{"key": f"g{p}", "label": str(p), "points": p} for p in (100, 80, 60, 40, 20)],
    "rules": [],
}


@pytest.fixture
def admin(client: TestClient, session: Session) -> dict[str, str]:
    make_units(session)
    return headers_for(client, session, Role.admin)


def _patch(client: TestClient, admin: dict[str, str], cid: int, **body: Any) -> Any:
    data = {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in body.items()}
    return client.patch(f"/api/v1/campaigns/{cid}", json=data, headers=admin)


def _hash(client: TestClient, admin: dict[str, str], cid: int) -> str:
    return str(client.get(f"/api/v1/campaigns/{cid}", headers=admin).json()["evaluation_hash"])


def test_opened_evaluation_cannot_be_moved_back_to_scheduled(
    client: TestClient, admin: dict[str, str]
) -> None:
    ids = make_subjects(client, admin)
    cid = create_evaluation(client, admin, ids)
    code = codes(client, admin, cid, "staff", 1)[0]
    assert client.post(f"/api/v1/evaluations/{cid}/sheet", json=sheet(code, ids)).status_code == 201
    before = _hash(client, admin, cid)
    r = _patch(client, admin, cid, opens_at=utcnow() + timedelta(days=1))
    assert r.status_code == 409
    detail = r.json()["detail"]
    assert detail["reason"] == "opened" and detail["field"] == "opens_at"
    assert "不能推后" in detail["message"] and "cannot be moved later" in detail["message"]
    r = client.put(f"/api/v1/campaigns/{cid}/evaluation", json={"evaluation": FIVE}, headers=admin)
    assert r.status_code == 409 and r.json()["detail"]["reason"] == "opened"
    assert _hash(client, admin, cid) == before
    # Titles, an earlier start and a later end of an open evaluation still change.
    assert _patch(client, admin, cid, title="改名").status_code == 200
    assert _patch(client, admin, cid, opens_at=utcnow() - timedelta(days=1)).status_code == 200
    assert _patch(client, admin, cid, closes_at=utcnow() + timedelta(days=9)).status_code == 200


def test_a_sheet_freezes_even_before_the_opening(
    client: TestClient, admin: dict[str, str], session: Session
) -> None:
    ids = make_subjects(client, admin)
    cid = create_evaluation(client, admin, ids, opens_in=timedelta(days=1))
    # A sheet stored while scheduled (e.g. a clock moved back): the configuration is fixed.
    session.add(EvaluationResponse(campaign_id=cid, rater_group="staff", submitted_hour=utcnow()))
    session.commit()
    r = client.put(f"/api/v1/campaigns/{cid}/evaluation", json={"evaluation": FIVE}, headers=admin)
    assert r.status_code == 409 and r.json()["detail"]["reason"] == "sheets"
    r = _patch(client, admin, cid, opens_at=utcnow() + timedelta(days=2))
    assert r.status_code == 409 and r.json()["detail"]["reason"] == "sheets"


def test_closed_evaluation_cannot_be_reopened(
    client: TestClient, admin: dict[str, str], session: Session
) -> None:
    ids = make_subjects(client, admin)
    cid = create_evaluation(client, admin, ids)
    session.exec(  # type: ignore[call-overload]
        update(Campaign)
        .where(Campaign.id == cid)
        .values(opens_at=utcnow() - timedelta(days=3), closes_at=utcnow() - timedelta(days=1))
    )
    session.commit()
    r = _patch(client, admin, cid, closes_at=utcnow() + timedelta(days=1))
    assert r.status_code == 409
    assert (
        r.json()["detail"]["reason"] == "closed" and "不能重新开放" in r.json()["detail"]["message"]
    )
    r = _patch(
        client,
        admin,
        cid,
        opens_at=utcnow() + timedelta(days=1),
        closes_at=utcnow() + timedelta(days=2),
    )
    assert r.status_code == 409
    assert client.get(f"/api/v1/campaigns/{cid}", headers=admin).json()["status"] == "closed"


def test_resident_questionnaire_stays_frozen_whatever_the_window(
    client: TestClient, admin: dict[str, str]
) -> None:
    sid = create_survey(client, admin)
    cid = create_campaign(client, admin, sid)
    r = client.post(f"/api/v1/campaigns/{cid}/responses", json=response_body())
    assert r.status_code == 201, r.text
    # A resident campaign may be rescheduled: its questionnaire froze on the response.
    assert _patch(client, admin, cid, opens_at=utcnow() + timedelta(days=1)).status_code == 200
    assert client.get(f"/api/v1/surveys/{sid}", headers=admin).json()["frozen"] is True
    r = client.put(f"/api/v1/surveys/{sid}", json=survey_body(title="改"), headers=admin)
    assert r.status_code == 201 and r.json()["id"] != sid


def test_console_says_why_beside_the_field(app: FastAPI, client: TestClient) -> None:
    with Session(app.state.engine, expire_on_commit=False) as s:
        make_units(s)
        user: User = make_user(s, Role.admin, "boss")
    with Session(app.state.engine, expire_on_commit=False) as s:
        admin = headers_for(client, s, Role.admin, "api-admin")
    ids = make_subjects(client, admin)
    cid = create_evaluation(client, admin, ids)
    with Session(app.state.engine) as s:
        s.exec(  # type: ignore[call-overload]
            update(Campaign)
            .where(Campaign.id == cid)
            .values(opens_at=utcnow() - timedelta(days=3), closes_at=utcnow() - timedelta(days=1))
        )
        s.commit()
    csrf = sign_in(app, client, user)
    r = client.post(
        f"/admin/campaigns/{cid}",
        data={
            "csrf_token": csrf,
            "title": "2026年度民主测评",
            "title_en": "",
            "closes_at": _local(app, timedelta(days=2)),
        },
    )
    assert r.status_code == 422
    assert "不能重新开放" in field_errors(r.text)["closes_at"]
    r = client.post(
        f"/admin/campaigns/{cid}/evaluation",
        data={"csrf_token": csrf, "subject_ids": [str(i) for i in ids]},
    )
    assert r.status_code == 422
    assert "已固定" in field_errors(r.text)["subject_ids"]
