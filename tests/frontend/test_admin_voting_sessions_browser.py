"""In Chromium: the office creates a voting session from the projects (the running total and
the rule's preview follow the form without a reload), chooses the electorate, opens the vote
through its confirmation page, watches the turnout rise as a deputy votes (no reload),
closes and publishes it; none of the pages scrolls sideways at 360 px."""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from playwright.sync_api import expect
from sqlmodel import Session

from service.auth import SESSION_COOKIE
from service.models import Role
from surveys.voting.models import ProjectCreate
from surveys.voting.projects import create_project
from tests.conftest import SECRETS
from tests.factories import make_user
from tests.frontend.test_admin_browser import OVERFLOW
from tests.frontend.test_admin_proposals import cookie_for
from tests.surveys.voting.factories import bearer, make_deputies, make_units

pytestmark = pytest.mark.browser


def _vote(base: str, sid: int, headers: dict[str, str], choices: dict[int, str]) -> None:
    """A deputy's ballot through the API, as the deputy's page sends it."""
    body = json.dumps({"choices": {str(k): v for k, v in choices.items()}}).encode()
    request = urllib.request.Request(
        f"{base}/api/v1/voting-sessions/{sid}/ballots",
        data=body,
        headers={"Content-Type": "application/json", **headers},
        method="POST",
    )
    with urllib.request.urlopen(request) as response:  # noqa: S310 (the local test server)
        assert response.status == 201
        SECRETS.add(json.loads(response.read())["receipt"])


def test_create_open_watch_turnout_close_publish(
    app: FastAPI, live_server: str, new_page: Callable[..., Any], page_errors: list[str]
) -> None:
    with Session(app.state.engine, expire_on_commit=False) as s:
        make_units(s)
        admin = make_user(s, Role.admin, "admin")
        deputies = make_deputies(s, 3)
        ids = []
        for title, budget in (("社区老年食堂", 1_200_000), ("学校操场改造", 800_000)):
            data = ProjectCreate(
                title=title, category="养老", budget=budget, sponsor_unit_code="civil"
            )
            ids.append(create_project(s, data=data, actor="admin").id or 0)
        s.commit()
        voter = bearer(app, s, deputies[0])
    cookie = cookie_for(app, admin)
    page = new_page(width=1280)
    page.context.add_cookies([{"name": SESSION_COOKIE, "value": cookie, "url": live_server}])

    page.goto(f"{live_server}/admin/voting-sessions?lang=zh-CN")
    page.click("#new-session")
    page.wait_for_url("**/admin/voting-sessions/new")
    page.fill("input[name=title]", "2027年民生实事项目票决")
    page.fill("input[name=year]", "2027")
    page.fill("input[name=budget_cap]", "1500000")
    page.check(f"#project-{ids[0]}")
    page.check(f"#project-{ids[1]}")
    # The running total follows the ticks and says when it is over the cap.
    assert page.locator("#total-cost").inner_text() == "2,000,000"
    assert page.locator("#total-over").is_visible()
    page.fill("input[name=max_selected]", "1")
    preview = page.locator("#rule-preview")
    expect(preview).to_contain_text("最多选出前 1 项")
    assert "在预算 150 万元内依次入选" in page.locator("#rule-preview").inner_text()
    page.select_option("select[name=threshold_kind]", "fraction")
    page.fill("input[name=threshold_value]", "2/3")
    expect(preview).to_contain_text("全体代表的 2/3")
    page.click("#session-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/admin/voting-sessions/\d+\?done=created"))
    sid = int(re.findall(r"/admin/voting-sessions/(\d+)", page.url)[0])
    assert "全体代表的 2/3" in page.locator("#rule-preview").inner_text()

    # The electorate: everyone ticked at once, then saved.
    page.click(f'a[href="/admin/voting-sessions/{sid}/electorate"] >> nth=0')
    page.wait_for_url("**/electorate")
    page.check("#toggle-all")
    assert page.locator("input[name=deputy]:checked").count() == 3
    page.click("#electorate-form button[type=submit]")
    page.wait_for_url("**?done=electorate")
    assert page.locator("#electorate-count").inner_text() == "(3)"
    assert "全体代表（3 名）的 2/3（至少 2 票）" in page.locator("#rule-preview").inner_text()

    # Open, through the confirmation page.
    page.click("a[data-action=open]")
    page.wait_for_url(f"**/admin/voting-sessions/{sid}/open")
    page.click("button[type=submit][name=confirm]")
    page.wait_for_url("**?done=open")
    assert "投票已开始" in page.locator("p.notice").inner_text()
    assert page.locator("#turnout-cast").inner_text() == "0"

    # A deputy votes: the count rises on the open page without a reload.
    page.evaluate("() => { document.body.dataset.marker = 'not reloaded'; }")
    _vote(live_server, sid, voter, {ids[0]: "for", ids[1]: "against"})
    expect(page.locator("#turnout-cast")).to_have_text("1", timeout=15_000)
    assert page.evaluate("() => document.body.dataset.marker") == "not reloaded"
    assert page.locator("#turnout-electorate").inner_text() == "3"

    phone = new_page(width=360, height=740)
    phone.context.add_cookies([{"name": SESSION_COOKIE, "value": cookie, "url": live_server}])
    for path in (
        "/admin/voting-sessions",
        "/admin/voting-sessions/new",
        f"/admin/voting-sessions/{sid}",
        f"/admin/voting-sessions/{sid}/electorate",
        f"/admin/voting-sessions/{sid}/close",
        "/admin/voting-sessions/new?lang=en",
    ):
        phone.goto(f"{live_server}{path}")
        assert phone.evaluate(OVERFLOW) <= 0, path

    page.click("a[data-action=close]")
    page.wait_for_url(f"**/admin/voting-sessions/{sid}/close")
    page.click("button[type=submit][name=confirm]")
    page.wait_for_url("**?done=close")
    assert "已计票" in page.locator("p.notice").inner_text()
    assert page.locator(".result-rows tbody tr").count() == 2
    phone.goto(f"{live_server}/admin/voting-sessions/{sid}")
    assert phone.evaluate(OVERFLOW) <= 0

    page.click("a[data-action=publish]")
    page.wait_for_url(f"**/admin/voting-sessions/{sid}/publish")
    page.click("button[type=submit][name=confirm]")
    page.wait_for_url("**?done=publish")
    assert "结果已公布" in page.locator("p.notice").inner_text()
    page.click("#results-link")
    page.wait_for_url(f"**/results/{sid}**")
    assert "2027年民生实事项目票决" in page.content()
    assert page_errors == [], page_errors
