"""The console's democratic evaluation results pages: who gets them (login, 403, the
organisation department and admins), the list, the group view with its filters, the subject
view and its report link; each view audited; the numbers are the API's."""

from __future__ import annotations

import json

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from service.audit import AuditEntry
from service.models import Role
from tests.analytics.evaluation import world
from tests.factories import make_user
from tests.frontend.test_admin_units import sign_in


def _sign_in(app: FastAPI, client: TestClient, role: Role, name: str) -> None:
    with Session(app.state.engine, expire_on_commit=False) as s:
        user = make_user(s, role, name)
    sign_in(app, client, user)


def _views(app: FastAPI) -> list[tuple[str, str, list[int]]]:
    with Session(app.state.engine) as s:
        rows = s.exec(
            select(AuditEntry)
            .where(col(AuditEntry.action).like("evaluation.%"))
            .order_by(col(AuditEntry.id))
        )
        return [(e.actor, e.action, json.loads(e.detail)["subjects"]) for e in rows]


def test_pages_need_the_organisation_or_admin(app: FastAPI, client: TestClient) -> None:
    w = world.build(app.state.engine)
    r = client.get("/admin/evaluations", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    _sign_in(app, client, Role.evaluator, "eva")
    for path in ("/admin/evaluations", f"/admin/evaluations/{w.campaign_id}"):
        r = client.get(path)
        assert r.status_code == 403 and r.headers["content-type"].startswith("text/html")
    assert _views(app) == []


def test_list_group_and_subject_views(app: FastAPI, client: TestClient) -> None:
    w = world.build(app.state.engine)
    running = world.build(app.state.engine, closed=False, prefix="op")
    _sign_in(app, client, Role.organisation, "orgdept")
    listing = client.get("/admin/evaluations")
    assert listing.status_code == 200
    assert f'href="/admin/evaluations/{w.campaign_id}"' in listing.text
    assert f'href="/admin/evaluations/{running.campaign_id}"' not in listing.text
    assert "测评截止后" in listing.text

    page = client.get(f"/admin/evaluations/{w.campaign_id}")
    assert page.status_code == 200
    assert page.text.count('class="fig-data"') == 2
    for name in ("民政局领导班子", "人社局领导班子", "张明"):
        assert name in page.text
    assert "诫勉谈话" in page.text  # the leader's flag, as a badge
    teams = client.get(f"/admin/evaluations/{w.campaign_id}", params={"kind": "leader"})
    assert "张明" in teams.text and "人社局领导班子" not in teams.text
    unit = client.get(f"/admin/evaluations/{w.campaign_id}", params={"unit_code": "ev-hrss"})
    assert "人社局领导班子" in unit.text and "张明" not in unit.text

    sid = w.subject_ids[2]
    subject = client.get(f"/admin/evaluations/{w.campaign_id}/subjects/{sid}")
    assert subject.status_code == 200
    assert f"/api/v1/campaigns/{w.campaign_id}/evaluation/subjects/{sid}/report" in subject.text
    assert "总体评价中“不称职”占比高于 1/3（“不了解”不计入）" in subject.text
    # Members (3 raters) are shown only pooled with staff.
    assert "班子成员 + 干部职工" in subject.text
    # ... and the page says what the pool does to the weights.
    assert "班子成员 30% + 干部职工 30% = 60%" in subject.text and "同等计入" in subject.text
    report = client.get(f"/api/v1/campaigns/{w.campaign_id}/evaluation/subjects/{sid}/report")
    assert report.status_code == 200 and "张明" in report.text

    closed_later = client.get(f"/admin/evaluations/{running.campaign_id}")
    assert closed_later.status_code == 409 and "测评截止后" in closed_later.text
    assert _views(app) == [
        ("orgdept", "evaluation.view", w.subject_ids),
        ("orgdept", "evaluation.view", [sid]),
        ("orgdept", "evaluation.view", [w.subject_ids[1]]),
        ("orgdept", "evaluation.view", [sid]),
        ("orgdept", "evaluation.report", [sid]),
    ]


def test_page_numbers_are_the_api_numbers(app: FastAPI, client: TestClient) -> None:
    w = world.build(app.state.engine, sizes={"members": 6, "staff": 8, "served": 12})
    _sign_in(app, client, Role.admin, "boss")
    api = client.get(f"/api/v1/campaigns/{w.campaign_id}/evaluation").json()
    page = client.get(f"/admin/evaluations/{w.campaign_id}?lang=en").text
    for s in api["subjects"]:
        assert f">{s['score']:.1f}<" in page
        assert f"{s['score_low']:.1f}–{s['score_high']:.1f}" in page
    one = client.get(f"/admin/evaluations/{w.campaign_id}/subjects/{w.subject_ids[0]}?lang=en")
    assert f'data-testid="score">{api["subjects"][0]["score"]:.1f}<' in one.text
    assert "Team members" in one.text and "Weighted score" in one.text


def test_a_group_without_raters_is_named(app: FastAPI, client: TestClient) -> None:
    w = world.build(app.state.engine, sizes={"members": 5, "staff": 8, "served": 0})
    _sign_in(app, client, Role.organisation, "orgdept")
    page = client.get(f"/admin/evaluations/{w.campaign_id}/subjects/{w.subject_ids[0]}").text
    assert "无人参评的群体：“服务对象”（配置权重 40%）。其权重已按比例分给有参评人的群体" in page
