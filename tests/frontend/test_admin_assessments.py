"""The console's assessment pages: who gets them, the create and score forms with errors
beside the field, the import's preview then commit, finalisation, the results table and the
printable subject sheet, each view audited."""

from __future__ import annotations

import html
import re
from datetime import timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import Session, col, select

from analytics.assessment import sources
from analytics.assessment.models import Assessment
from service.audit import AuditEntry
from service.db import utcnow
from service.models import Role
from surveys.forms.models import Campaign
from tests.analytics import conftest as analytics_fixtures
from tests.analytics.assessment import conftest as assessment_fixtures
from tests.analytics.assessment.conftest import World, rate_teams
from tests.factories import make_user
from tests.frontend.test_admin_units import sign_in

# The assessment tests' small district, shared with these pages.
synthetic = analytics_fixtures.synthetic
world = assessment_fixtures.world
evaluation_scores = assessment_fixtures.evaluation_scores


def field_errors(page: str) -> dict[str, str]:
    found = re.findall(r'<span class="field-error" id="err-([\w-]+)">([^<]*)</span>', page)
    return {k: html.unescape(v) for k, v in found}


def _actions(app: FastAPI) -> list[str]:
    with Session(app.state.engine) as s:
        return [e.action for e in s.exec(select(AuditEntry).order_by(col(AuditEntry.id)))]


def _sign_in(app: FastAPI, client: TestClient, role: Role, name: str) -> str:
    with Session(app.state.engine, expire_on_commit=False) as s:
        user = make_user(s, role, name)
    return sign_in(app, client, user)


def _create(client: TestClient, csrf: str, world: World, **over: object) -> int:
    data: dict[str, object] = {
        "csrf_token": csrf,
        "year": "2026",
        "title": "2026 年度班子考核",
        "kind": "team",
        "weight_public": "30",
        "weight_evaluation": "30",
        "weight_results": "25",
        "weight_reform": "15",
        "public_campaign_ids": [str(world.syn.campaign_id)],
        "evaluation_campaign_ids": [str(world.evaluation_campaign_id)],
        **over,
    }
    r = client.post("/admin/assessments", data=data, follow_redirects=False)
    assert r.status_code == 303, r.text
    return int(r.headers["location"].split("?")[0].rsplit("/", 1)[1])


def test_who_gets_the_pages(app: FastAPI, client: TestClient, world: World) -> None:
    r = client.get("/admin/assessments", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
    _sign_in(app, client, Role.evaluator, "ev2")
    r = client.get("/admin/assessments")
    assert r.status_code == 403 and "text/html" in r.headers["content-type"]
    _sign_in(app, client, Role.organisation, "org2")
    r = client.get("/admin/assessments")
    assert r.status_code == 200 and "年度综合考核" in r.text
    # The organisation department's navigation holds only the pages it may open.
    nav = r.text.split('class="console-nav"')[1].split("</nav>")[0]
    assert 'href="/admin/assessments"' in nav and 'href="/admin/users"' not in nav
    assert client.get("/admin/assessments/999").status_code == 404


def test_create_with_errors_then_scores_and_import(
    app: FastAPI, client: TestClient, world: World
) -> None:
    csrf = _sign_in(app, client, Role.organisation, "org2")
    r = client.post(
        "/admin/assessments",
        data={"csrf_token": csrf, "year": "19", "title": "", "weight_public": "300"},
    )
    assert r.status_code == 422
    assert {"year", "title"} <= set(field_errors(r.text))
    aid = _create(client, csrf, world)
    page = client.get(f"/admin/assessments/{aid}?done=created&lang=en")
    assert page.status_code == 200 and "Assessment created." in page.text
    r = client.post(
        f"/admin/assessments/{aid}/scores",
        data={
            "csrf_token": csrf,
            "subject_id": str(world.teams[0]),
            "source": "results",
            "score": "120",
            "source_text": "",
        },
    )
    assert r.status_code == 422
    assert {"score", "source_text"} <= set(field_errors(r.text))
    assert 'value="120"' in r.text
    r = client.post(
        f"/admin/assessments/{aid}/scores",
        data={
            "csrf_token": csrf,
            "subject_id": str(world.teams[0]),
            "source": "results",
            "score": "88",
            "source_text": "区考核办",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    body = f"subject_id,source,score,source_text\n{world.teams[1]},reform,70,改革办\n"
    r = client.post(
        f"/admin/assessments/{aid}/scores/import",
        data={"csrf_token": csrf},
        files={"file": ("s.csv", body.encode())},
    )
    assert r.status_code == 200 and 'name="rows"' in r.text
    rows = html.unescape(re.search(r'name="rows" value="([^"]*)"', r.text).group(1))  # type: ignore[union-attr]
    r = client.post(
        f"/admin/assessments/{aid}/scores/import/confirm",
        data={"csrf_token": csrf, "rows": rows, "filename": "s.csv"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and "imported" in r.headers["location"]
    page = client.get(f"/admin/assessments/{aid}").text
    assert "区考核办" in page and "改革办" in page
    assert _actions(app).count("assessment.score.create") == 2


def test_finalise_results_and_subject_sheet(
    app: FastAPI,
    client: TestClient,
    world: World,
    evaluation_scores: dict[int, sources.Measured],
) -> None:
    csrf = _sign_in(app, client, Role.admin, "adm2")
    aid = _create(client, csrf, world, weight_reform="0", weight_results="0")
    for i, t in enumerate(world.teams):
        evaluation_scores[t] = sources.Measured(70.0 + 5 * i, 68.0 + 5 * i, 72.0 + 5 * i, 30)
    r = client.post(f"/admin/assessments/{aid}/finalise", data={"csrf_token": csrf})
    assert r.status_code == 422 and "confirm" in field_errors(r.text)
    # Finalising needs the democratic evaluation it draws on closed.
    with Session(app.state.engine) as s:
        s.exec(  # type: ignore[call-overload]
            update(Campaign)
            .where(col(Campaign.id) == world.evaluation_campaign_id)
            .values(closes_at=utcnow() - timedelta(hours=1))
        )
        s.commit()
    r = client.post(
        f"/admin/assessments/{aid}/finalise",
        data={"csrf_token": csrf, "confirm": "1"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    with Session(app.state.engine) as s:
        a = s.get(Assessment, aid)
        assert a is not None and a.config_hash
        config_hash = a.config_hash
    page = client.get(f"/admin/assessments/{aid}").text
    assert config_hash in page
    r = client.get(f"/admin/assessments/{aid}/results")
    assert r.status_code == 200
    assert r.text.count('data-subject="') == len(world.teams)
    r = client.get(f"/admin/assessments/{aid}/subjects/{world.teams[2]}?lang=en")
    assert r.status_code == 200
    assert 'data-testid="composite"' in r.text and "班子3" in r.text
    assert "Sensitivity to the weights" in r.text
    assert client.get(f"/admin/assessments/{aid}/subjects/{world.leader}").status_code == 404
    with Session(app.state.engine) as s:
        views = s.exec(select(AuditEntry).where(AuditEntry.action == "assessment.view")).all()
    assert [v.actor for v in views] == ["adm2", "adm2"]


def test_evaluation_subject_page_links_to_the_assessment(
    app: FastAPI, client: TestClient, session: Session, world: World
) -> None:
    csrf = _sign_in(app, client, Role.organisation, "org2")
    aid = _create(client, csrf, world)
    rate_teams(session, world)
    t = world.teams[0]
    r = client.get(f"/admin/evaluations/{world.evaluation_campaign_id}/subjects/{t}")
    assert r.status_code == 200, r.text
    assert f'href="/admin/assessments/{aid}/subjects/{t}"' in r.text
