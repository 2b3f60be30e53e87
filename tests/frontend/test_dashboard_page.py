"""The /dashboard page: who may see it, what it embeds, and that it keeps to the CSP."""

from __future__ import annotations

import json
import re

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session

from analytics.dashboard.options import SURVEY_FIGURES
from service.models import Role
from tests.factories import make_user
from tests.frontend.dashboard_factory import build_vote, build_world, session_cookie


def _boot(html: str) -> dict:  # type: ignore[type-arg]
    m = re.search(r'<script type="application/json" id="dash-boot">(.*?)</script>', html, re.S)
    assert m, "no boot block"
    return json.loads(m.group(1))  # type: ignore[no-any-return]


def test_anonymous_is_sent_to_login_and_deputy_is_refused(client: TestClient, app: FastAPI) -> None:
    world = build_world(app.state.engine, app.state.settings, responses=200)
    r = client.get("/dashboard?period=week", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/login?next=%2Fdashboard%3Fperiod%3Dweek")
    client.cookies.update(world.cookies[Role.deputy])
    r = client.get("/dashboard")
    assert r.status_code == 403
    assert "评价看板仅对评价人员和管理员开放" in r.text
    assert "dash-boot" not in r.text


def test_evaluator_gets_the_charts_as_json_data_and_no_inline_script(
    client: TestClient, app: FastAPI
) -> None:
    world = build_world(app.state.engine, app.state.settings, responses=600)
    client.cookies.update(world.cookies[Role.evaluator])
    r = client.get("/dashboard")
    assert r.status_code == 200
    html = r.text
    scripts = re.findall(r"<script([^>]*)>", html)
    # Only external scripts and JSON data blocks: the CSP forbids inline script.
    assert all('src="' in attrs or 'type="application/json"' in attrs for attrs in scripts)
    assert html.count('src="/static/plotly/plotly.min.js"') == 1
    assert 'src="/static/js/dashboard.js"' in html
    assert not re.search(r"\son[a-z]+=", html)  # no inline event handlers
    boot = _boot(html)
    assert boot["campaign_id"] == world.syn.campaign_id
    assert boot["figures"] == list(SURVEY_FIGURES)
    # The page does not wait for the figures: the browser preloads the bundle from the head.
    url = boot["bundle_url"]
    assert url == f"/api/v1/dashboard?campaign_id={world.syn.campaign_id}&period=month&lang=zh-CN"
    assert f'<link rel="preload" href="{url.replace("&", "&amp;")}" as="fetch" crossorigin>' in html
    bundle = client.get(url).json()  # the page-session cookie is enough
    assert set(bundle["figures"]) == set(SURVEY_FIGURES)
    assert len(bundle["figures"]["ranking"]["data"][0]["x"]) == 8
    for name in SURVEY_FIGURES:
        assert f'id="plot-{name}"' in html
    # Filter menus come from the data: the areas respondents gave, the kinds rated.
    for code in world.syn.area_codes:
        assert f'value="{code}"' in html
    assert 'value="service_window"' in html and 'value="department"' in html
    assert "评价看板" in html and "下载完整报告" in html
    en = client.get("/dashboard?lang=en")
    assert "Evaluator dashboard" in en.text
    en_bundle = client.get(_boot(en.text)["bundle_url"]).json()
    assert en_bundle["figures"]["ranking"]["layout"]["title"]["text"] == "Reputation index ranking"


def test_filters_in_the_query_string_shape_the_first_figures(
    client: TestClient, app: FastAPI
) -> None:
    world = build_world(app.state.engine, app.state.settings, responses=600)
    client.cookies.update(world.cookies[Role.admin])
    unit = world.syn.unit_codes[-1]
    r = client.get(f"/dashboard?unit_kind=department&unit_code={unit}&period=week")
    assert r.status_code == 200
    boot = _boot(r.text)
    assert boot["filters"]["unit_kind"] == "department"
    assert boot["filters"]["unit_code"] == unit
    figs = client.get(boot["bundle_url"]).json()["figures"]
    assert len(figs["ranking"]["data"][0]["x"]) == 4
    assert "部门8" in figs["profile"]["layout"]["title"]["text"]
    assert "selected" in r.text.split('id="f-kind"')[1].split("</select>")[0]
    # The plain form (no JavaScript) sends its empty fields too; a month is kept.
    assert client.get("/dashboard?month=&area=&unit_kind=").status_code == 200
    r = client.get("/dashboard?month=2026-02")
    boot = _boot(r.text)
    assert boot["filters"]["month"] == "2026-02" and "month=2026-02" in boot["bundle_url"]
    assert 'value="2026-02"' in r.text.split('id="f-month"')[1].split(">")[0]
    months = client.get(boot["bundle_url"]).json()["figures"]["responses"]["data"][0]["x"]
    assert months == ["2026-02"]


def test_the_vote_section_shows_the_published_session(client: TestClient, app: FastAPI) -> None:
    world = build_world(app.state.engine, app.state.settings, responses=200)
    sid = build_vote(app)
    client.cookies.update(world.cookies[Role.evaluator])
    html = client.get("/dashboard").text
    boot = _boot(html)
    assert boot["session_id"] == sid
    assert {"vote", "tracker"} <= set(boot["figures"])
    assert f"session_id={sid}" in boot["bundle_url"]
    assert 'id="plot-vote"' in html and 'id="plot-tracker"' in html
    assert f'<option value="{sid}" selected>' in html
    assert "还没有已公布的票决结果" not in html


def test_no_campaign_yet_says_so(client: TestClient, app: FastAPI) -> None:
    with Session(app.state.engine) as s:
        user = make_user(s, Role.evaluator, "lonely")
    client.cookies.update(session_cookie(app.state.engine, app.state.settings, user))
    r = client.get("/dashboard")
    assert r.status_code == 200
    assert "还没有评议活动" in r.text
    assert _boot(r.text)["figures"] == [] and _boot(r.text)["bundle_url"] is None
    assert 'rel="preload"' not in r.text


def test_only_admins_are_offered_the_flagged_switch(client: TestClient, app: FastAPI) -> None:
    world = build_world(app.state.engine, app.state.settings, responses=200)
    client.cookies.update(world.cookies[Role.evaluator])
    r = client.get("/dashboard")
    assert r.status_code == 200 and 'id="f-flagged"' not in r.text
    refused = client.get("/dashboard?include_flagged=true&lang=en")
    assert refused.status_code == 403 and "administrators only" in refused.text
    client.cookies.update(world.cookies[Role.admin])
    r = client.get("/dashboard?include_flagged=true")
    assert r.status_code == 200 and 'id="f-flagged"' in r.text
    assert "include_flagged=true" in _boot(r.text)["bundle_url"]
