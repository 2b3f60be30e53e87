"""Loose ends of the console: patterns the models declare are enforced (API 422 naming the
field, the console's error beside it), and a campaign naming a deactivated unit is refused
beside the units field in both languages."""

# ruff: noqa: F811  (pytest fixtures imported from tests/surveys/forms/fixtures.py)

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from service.models import Role, User
from surveys.units.models import Unit
from surveys.voting.models import ProjectCreate, ProposalCreate, ProposalReview
from surveys.voting.projects import create_project
from surveys.voting.proposals import create_proposal, review_proposal
from tests.factories import headers_for, make_user
from tests.frontend.test_admin_campaigns import local
from tests.frontend.test_admin_pages import as_user, field_errors
from tests.frontend.test_voting_pages import build
from tests.surveys.forms.fixtures import World, admin, world  # noqa: F401 (fixtures used here)
from tests.surveys.voting.factories import (
    act,
    bearer,
    create_projects,
    create_session,
    make_deputies,
    make_units,
    session_payload,
    vote,
)


def test_username_pattern_is_enforced_by_the_api_and_the_console(
    app: FastAPI, client: TestClient, session: Session
) -> None:
    h = headers_for(client, session, Role.admin, "chief")
    body = {"username": "wang wei!", "role": "deputy", "password": "lantern-river-42"}
    r = client.post("/api/v1/users", headers=h, json=body)
    assert r.status_code == 422
    assert [e["loc"] for e in r.json()["detail"]] == [["body", "username"]]

    client.headers.clear()
    csrf = as_user(app, client, make_user(session, Role.admin, "boss"))
    form = body | {"csrf_token": csrf, "display_name": "王伟"}
    page = client.post("/admin/users", data=form)
    assert page.status_code == 422
    assert "用户名须为" in field_errors(page.text)["username"]
    assert 'aria-describedby="err-username"' in page.text
    assert 'value="wang wei!"' in page.text
    en = client.post("/admin/users?lang=en", data=form)
    assert "letters, digits" in field_errors(en.text)["username"]
    session.expire_all()
    assert session.exec(select(User).where(User.username == "wang wei!")).first() is None


def test_unit_code_pattern_is_enforced_by_the_api(
    client: TestClient, session: Session, admin: dict[str, str]
) -> None:
    r = client.post(
        "/api/v1/units", headers=admin, json={"code": "bad code", "name": "坏", "kind": "street"}
    )
    assert r.status_code == 422
    assert [e["loc"] for e in r.json()["detail"]] == [["body", "code"]]


def test_new_campaign_naming_a_deactivated_unit_is_refused_beside_the_units(
    app: FastAPI, client: TestClient, session: Session, world: World
) -> None:
    csrf = as_user(app, client, make_user(session, Role.admin, "boss"))
    # The unit is deactivated after the form was opened: the post still names it.
    unit = session.exec(select(Unit).where(Unit.code == "win-social")).one()
    unit.is_active = False
    session.add(unit)
    session.commit()
    form = {
        "csrf_token": csrf,
        "survey_id": str(world.survey_id),
        "title": "新活动",
        "opens_at": local(timedelta(days=1)),
        "closes_at": local(timedelta(days=30)),
        "access": "open",
        "unit_codes": ["dept-civil", "win-social"],
    }
    r = client.post("/admin/campaigns", data=form)
    assert r.status_code == 422
    assert field_errors(r.text) == {
        "unit_codes": "所选单位中有已停用的单位（已不在列表中），请检查后再保存"
    }
    assert 'aria-invalid="true" aria-describedby="err-unit_codes"' in r.text
    en = client.post("/admin/campaigns?lang=en", data=form)
    assert field_errors(en.text)["unit_codes"].startswith("A chosen unit has been deactivated")


def test_overview_links_open_votes_and_campaigns_to_their_console_pages(
    app: FastAPI, client: TestClient, session: Session, world: World
) -> None:
    vote = build(app)
    as_user(app, client, vote.admin)
    html = client.get("/admin").text
    turnout_cell = rf'<a href="/admin/voting-sessions/{vote.sid}">[^<]+</a></td>\s*<td class="num"'
    assert re.search(turnout_cell, html)
    assert f'<a href="/admin/campaigns/{world.campaign_id}">' in html


def test_a_closed_satisfaction_grading_is_shown_on_the_console_before_publishing(
    app: FastAPI, client: TestClient, session: Session
) -> None:
    make_units(session)
    boss = make_user(session, Role.admin, "boss")
    admin_h = bearer(app, session, boss)
    users = make_deputies(session, 3)
    headers = [bearer(app, session, u) for u in users]
    names = [u.username for u in users]
    ids = create_projects(client, admin_h, [100, 200])
    sel = create_session(client, admin_h, session_payload(ids, names, budget_cap=1_000))
    act(client, admin_h, sel, "open")
    for h in headers:
        vote(client, h, sel, {i: "for" for i in ids})
    for step in ("close", "publish"):
        act(client, admin_h, sel, step)
    sat = create_session(
        client, admin_h, session_payload(ids, names, kind="satisfaction", budget_cap=0)
    )
    act(client, admin_h, sat, "open")
    for h in headers:
        vote(client, h, sat, {ids[0]: "satisfied", ids[1]: "dissatisfied"})
    act(client, admin_h, sat, "close")

    client.headers.clear()
    as_user(app, client, boss)
    page = client.get(f"/admin/voting-sessions/{sat}")
    assert page.status_code == 200
    assert 'href="#result-title"' in page.text and f'href="/results/{sat}' not in page.text
    assert "/api/v1/voting-sessions/" not in page.text.replace(
        f'data-url="/api/v1/voting-sessions/{sat}/turnout"', ""
    )
    grades = re.findall(r'<td data-label="测评结果">([^<]+)</td>', page.text)
    assert grades == ["满意", "不满意"]
    en = client.get(f"/admin/voting-sessions/{sat}?lang=en")
    assert re.findall(r'<td data-label="Grade">([^<]+)</td>', en.text) == [
        "Satisfied",
        "Dissatisfied",
    ]


def test_a_campaign_has_one_name_in_every_catalog() -> None:
    # The console, the survey and the dashboard call a campaign 评议活动 / "campaign".
    root = Path(__file__).resolve().parents[2]
    catalogs = [*root.glob("frontend/locales/*.json"), *root.glob("analytics/locales/*.json")]
    assert catalogs
    for path in catalogs:
        data = json.loads(path.read_text(encoding="utf-8"))
        for key, text in data.get("zh-CN", {}).items():
            assert "调查活动" not in text and "测评活动" not in text, (path.name, key)
        for key, text in data.get("en", {}).items():
            assert not re.search(r"\b(survey round|appraisal round)\b", text, re.I), (
                path.name,
                key,
            )


def test_a_merged_proposal_stays_on_the_public_page_with_where_it_went(
    app: FastAPI, client: TestClient, session: Session
) -> None:
    make_units(session)
    kept, dup, other = (
        create_proposal(session, data=ProposalCreate(title=t, category="养老", area_code="jianshe"))
        for t in ("社区老年食堂", "老年人吃饭难", "小区加装电梯")
    )
    project = create_project(
        session,
        data=ProjectCreate(
            title="加装电梯工程",
            title_en="Lifts for old blocks",
            description="为老旧小区加装电梯，方便老年居民出行。",
            category="养老",
            budget=800_000,
            sponsor_unit_code="civil",
            area_code="jianshe",
        ),
    )
    review_proposal(
        session, proposal=dup, data=ProposalReview(action="merge", merge_into=kept.id), actor="a"
    )
    merge = ProposalReview(action="merge", merge_into_project=project.id)
    review_proposal(session, proposal=other, data=merge, actor="a")
    session.commit()

    html = client.get("/projects").text
    assert f'<li class="card proposal" id="proposal-{kept.id}">' in html
    assert f'已合并到<a href="#proposal-{kept.id}">社区老年食堂</a>' in html
    assert f'<li id="proposal-{dup.id}">老年人吃饭难' in html
    # The project is not in implementation, so not on the page: named without a link.
    assert "小区加装电梯 · 已合并到项目加装电梯工程</li>" in html
    en = client.get("/projects?lang=en").text
    assert "merged into the project Lifts for old blocks" in en and "Merged proposals" in en
