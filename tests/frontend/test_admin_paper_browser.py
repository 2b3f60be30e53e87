"""In Chromium: the office reaches the paper ballots from the session page, prints sheets (the
print page holds only the sheets, each with its serial, on A4), hands them out, enters a sheet
from the ballot box and the count with the scrutineers, on a phone (no sideways scroll at 360
px), with no serious accessibility finding (axe)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from sqlmodel import Session

from service.auth import SESSION_COOKIE
from service.models import Role
from surveys.voting.models import BallotMethod, ProjectCreate, SessionCreate, VotingSession
from surveys.voting.projects import create_project
from surveys.voting.sessions import create_session, open_session
from tests.factories import make_user
from tests.frontend.axe import describe, violations
from tests.frontend.test_admin_browser import OVERFLOW
from tests.frontend.test_admin_proposals import cookie_for
from tests.surveys.voting.factories import make_deputies, make_units

pytestmark = pytest.mark.browser


def test_paper_ballots_from_the_console_on_a_phone(
    app: FastAPI, live_server: str, new_page: Callable[..., Any], page_errors: list[str]
) -> None:
    with Session(app.state.engine, expire_on_commit=False) as s:
        make_units(s)
        admin = make_user(s, Role.admin, "admin")
        deputies = make_deputies(s, 3)
        ids = [
            create_project(
                s,
                data=ProjectCreate(title=t, category="养老", budget=b, sponsor_unit_code="civil"),
                actor="admin",
            ).id
            or 0
            for t, b in (("社区老年食堂", 1_200_000), ("学校操场改造", 800_000))
        ]
        data = SessionCreate(
            title="2027年民生实事项目票决",
            year=2027,
            project_ids=ids,
            deputy_usernames=[d.username for d in deputies],
            budget_cap=2_000_000,
            max_for_per_ballot=1,
            ballot_method=BallotMethod.paper,
        )
        vs = create_session(s, data=data, actor="admin")
        s.commit()
        sid = vs.id
    page = new_page(width=360)
    cookie = cookie_for(app, admin)
    page.context.add_cookies([{"name": SESSION_COOKIE, "value": cookie, "url": live_server}])

    page.goto(f"{live_server}/admin/voting-sessions/{sid}?lang=zh-CN")
    page.click("#paper-link")
    page.wait_for_url(f"**/admin/voting-sessions/{sid}/paper")
    assert page.evaluate(OVERFLOW) <= 0
    found = violations(page)
    assert found == [], describe(found)
    page.fill("input[name=count]", "4")
    page.select_option("select[name=per_page]", "2")
    page.click("text=登记并打印")
    page.wait_for_url("**/paper/sheets?first=1&last=4&per_page=2")
    assert page.locator(".sheet").count() == 4
    assert "000004" in page.locator(".sheet").nth(3).inner_text()
    found = violations(page)
    assert found == [], describe(found)
    # Printed, only the sheets remain: the console's frame and buttons are hidden.
    page.emulate_media(media="print")
    assert not page.locator(".console-nav").is_visible()
    assert not page.locator("[data-print]").is_visible()
    assert page.locator(".sheet").first.is_visible()
    page.emulate_media(media="screen")

    with Session(app.state.engine) as s:
        row = s.get(VotingSession, sid)
        assert row is not None
        open_session(s, vs=row, actor="admin")
        s.commit()
    page.goto(f"{live_server}/admin/voting-sessions/{sid}/paper?lang=zh-CN")
    page.fill("#issue-title ~ form input[name=count]", "3")
    page.locator("#issue-title ~ form button[type=submit]").click()
    page.wait_for_url("**/paper?done=issued**")
    assert page.locator("#paper-issued").inner_text() == "3"
    page.fill("#ballot-title ~ form input[name=serial]", "2")
    page.check(f"input[name=mark_{ids[0]}][value=for]")
    page.locator("#ballot-title ~ form button[type=submit]").click()
    page.wait_for_url("**/paper?done=ballot_valid**")
    assert page.locator("#paper-entered").inner_text() == "1"
    page.fill("#count-title ~ form input[name=collected]", "1")
    page.check("input[name=entry][value=by_ballot]")
    page.fill("textarea[name=scrutineers]", "张三\n李四")
    page.locator("#count-title ~ form button[type=submit]").click()
    page.wait_for_url("**/paper?done=counted**")
    assert "张三、李四" in page.locator("#paper-counted").inner_text()
    assert page.evaluate(OVERFLOW) <= 0
    found = violations(page)
    assert found == [], describe(found)
    assert [e for e in page_errors if "404" not in e] == []
