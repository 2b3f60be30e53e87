"""The survey page without a browser: rendering, plain form posts, errors that keep input."""

# ruff: noqa: F811  (pytest fixtures imported from tests/surveys/forms/fixtures.py)

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from service.models import Role
from surveys.forms.models import Answer, SurveyResponse
from tests.conftest import SECRETS
from tests.factories import headers_for
from tests.surveys.forms.factories import create_campaign
from tests.surveys.forms.fixtures import World, admin, world  # noqa: F401 (fixtures used here)


def _hidden(html: str, name: str) -> str:
    m = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert m, name
    return m.group(1)


def _form_fields(html: str, **answers: str | list[str]) -> dict[str, str | list[str]]:
    fields: dict[str, str | list[str]] = {
        n: _hidden(html, n) for n in ("unit_code", "submission_id", "form_token")
    }
    for key, value in answers.items():
        fields[key if key in ("comment", "area_code", "age_band", "sex") else f"a.{key}"] = value
    return fields


def full(**extra: str | list[str]) -> dict[str, str | list[str]]:
    base: dict[str, str | list[str]] = {
        "attitude": "5",
        "efficiency": "4",
        "transparency": "3",
        "integrity": "4",
        "results": "4",
        "channel": "hall",
        "comment": "材料要求说得很清楚，一次就办完了",
        "age_band": "40-49",
    }
    base.update(extra)
    return base


def test_unit_chooser_then_form(client: TestClient, world: World) -> None:
    r = client.get(f"/s/{world.campaign_id}")
    assert r.status_code == 200
    assert 'lang="zh-CN"' in r.text and "请选择您要评价的单位" in r.text
    assert f"/s/{world.campaign_id}?unit=dept-civil" in r.text
    r = client.get(f"/s/{world.campaign_id}?unit=dept-civil")
    assert r.status_code == 200
    assert "您对「民政局」的评价" in r.text and "服务态度" in r.text
    assert 'type="radio" name="a.attitude" value="5"' in r.text
    assert "/static/js/survey.js" in r.text
    assert "<script>" not in r.text  # CSP: no inline script
    en = client.get(f"/s/{world.campaign_id}?unit=dept-civil&lang=en")
    assert "Your rating of “Civil Affairs Bureau”" in en.text and "Attitude" in en.text
    # The language switch keeps the unit.
    assert 'href="?unit=dept-civil&amp;lang=zh-CN"' in en.text


def test_page_says_what_is_kept_and_who_sees_it(client: TestClient, world: World) -> None:
    k = client.app.state.settings.min_group_size  # type: ignore[attr-defined]
    for url in (f"/s/{world.campaign_id}?", f"/s/{world.campaign_id}?unit=dept-civil&"):
        zh = client.get(url + "lang=zh-CN").text
        assert "原始答卷只有管理员能看到" in zh and f"至少 {k} 人的汇总结果" in zh
        en = client.get(url + "lang=en").text
        assert "only administrators see individual responses" in en
        assert f"evaluators see totals of at least {k} people" in en


def test_plain_post_stores_and_thanks(client: TestClient, session: Session, world: World) -> None:
    page = client.get(f"/s/{world.campaign_id}?unit=dept-hrss").text
    fields = _form_fields(page, **full(online_issue=["slow"]))
    r = client.post(f"/s/{world.campaign_id}", data=fields, follow_redirects=False)
    assert r.status_code == 303, r.text
    assert r.headers["location"].startswith(f"/s/{world.campaign_id}/thanks?unit=dept-hrss")
    thanks = client.get(r.headers["location"])
    assert "提交成功" in thanks.text and "?unit=dept-civil" in thanks.text
    row = session.exec(select(SurveyResponse)).one()
    assert (row.unit_id, row.age_band, row.comment) == (
        6,
        "40-49",
        "材料要求说得很清楚，一次就办完了",
    )
    keys = set(session.exec(select(Answer.question_key).where(Answer.response_id == row.id)))
    assert "online_issue" not in keys  # its condition (channel = online) did not hold
    # The same form posted again (double tap, browser retry) stores nothing new.
    again = client.post(f"/s/{world.campaign_id}", data=fields, follow_redirects=False)
    assert again.status_code == 303
    assert len(session.exec(select(SurveyResponse)).all()) == 1


def test_errors_keep_what_was_typed(client: TestClient, session: Session, world: World) -> None:
    page = client.get(f"/s/{world.campaign_id}?unit=dept-civil").text
    fields = _form_fields(page, **full(results="", efficiency="9", comment="窗口人少，排队太久"))
    r = client.post(f"/s/{world.campaign_id}", data=fields)
    assert r.status_code == 422
    assert "还有几处需要修改" in r.text
    assert 'id="q-results"' in r.text and "请回答这道题" in r.text
    assert "请选择有效的分数" in r.text
    assert 'name="a.attitude" value="5" checked' in r.text
    assert "窗口人少，排队太久" in r.text
    assert 'value="40-49" selected' in r.text
    # The same submission id is kept, so a corrected post is still one submission.
    assert _hidden(r.text, "submission_id") == fields["submission_id"]
    assert session.exec(select(SurveyResponse)).first() is None


def test_closed_scheduled_and_missing(client: TestClient, world: World) -> None:
    assert client.get("/s/9999").status_code == 404
    closed = create_campaign(
        client,
        world.admin,
        world.survey_id,
        opens_at="2025-01-01T00:00:00+08:00",
        closes_at="2025-02-01T00:00:00+08:00",
    )
    r = client.get(f"/s/{closed}")
    assert r.status_code == 410 and "已经结束" in r.text
    later = create_campaign(
        client,
        world.admin,
        world.survey_id,
        opens_at="2099-01-01T08:00:00+08:00",
        closes_at="2099-02-01T00:00:00+08:00",
    )
    r = client.get(f"/s/{later}")
    assert r.status_code == 409 and "2099-01-01 08:00" in r.text


def test_invitation_flow_and_used_code(client: TestClient, session: Session, world: World) -> None:
    cid = create_campaign(
        client, world.admin, world.survey_id, access="invitation", unit_codes=["win-social"]
    )
    code = client.post(
        f"/api/v1/campaigns/{cid}/invitations", json={"count": 1}, headers=world.admin
    ).json()["codes"][0]
    r = client.get(f"/s/{cid}")
    assert r.status_code == 200 and "请输入邀请码" in r.text
    page = client.get(f"/s/{cid}", params={"code": code}).text
    assert "您对「社保窗口」的评价" in page and _hidden(page, "invitation_code") == code
    fields = _form_fields(page, **full())
    fields["invitation_code"] = code
    assert client.post(f"/s/{cid}", data=fields, follow_redirects=False).status_code == 303
    fields["submission_id"] = "another-submission-1"
    r = client.post(f"/s/{cid}", data=fields)
    assert r.status_code == 409 and "已经使用过" in r.text
    assert (
        len(session.exec(select(SurveyResponse).where(SurveyResponse.campaign_id == cid)).all())
        == 1
    )


def test_admin_pages(client: TestClient, session: Session, world: World) -> None:
    assert client.get("/admin/campaigns", follow_redirects=False).status_code == 303
    ev = headers_for(client, session, Role.evaluator, "eva")
    assert client.get("/admin/campaigns", headers=ev).status_code == 403
    r = client.get("/admin/campaigns", headers=world.admin)
    assert r.status_code == 200 and "2026年度评议" in r.text
    r = client.get(f"/admin/campaigns/{world.campaign_id}", headers=world.admin)
    assert r.status_code == 200 and "format=csv" in r.text


def test_printable_invitation_sheet(client: TestClient, session: Session, world: World) -> None:
    cid = create_campaign(client, world.admin, world.survey_id, access="invitation")
    # A cookie session (the page's way), with its CSRF token.
    login = client.get("/login").text
    r = client.post(
        "/login",
        data={
            "username": "admin1",
            "password": "correct-horse-battery",
            "csrf_token": _hidden(login, "csrf_token"),
        },
        follow_redirects=False,
    )
    assert r.status_code in (302, 303), r.text
    page = client.get(f"/admin/campaigns/{cid}")
    token = _hidden(page.text, "csrf_token")
    assert (
        client.post(f"/admin/campaigns/{cid}/invitations", data={"count": "3"}).status_code == 403
    )
    r = client.post(f"/admin/campaigns/{cid}/invitations", data={"count": "3", "csrf_token": token})
    assert r.status_code == 201, r.text
    codes = re.findall(r'<p class="qr-code">([A-Z0-9-]{14})</p>', r.text)
    # Never in any log line; codes[0] goes into a URL below, which the test client logs.
    SECRETS.update(codes[1:])
    assert len(codes) == 3 and r.text.count("<svg") == 3
    assert r.headers["cache-control"] == "no-store"
    # Each printed code works once.
    page = client.get(f"/s/{cid}", params={"code": codes[0], "unit": "dept-civil"}).text
    fields = _form_fields(page, **full())
    fields["invitation_code"] = codes[0]
    assert client.post(f"/s/{cid}", data=fields, follow_redirects=False).status_code == 303
