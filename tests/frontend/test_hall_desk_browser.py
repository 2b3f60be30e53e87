"""In Chromium, on a phone: the office reaches the sign-in desk from the session page, finds
and marks a deputy present, prints the seat cards (only the cards in print), and a deputy
scans a card: the page reads the code from the fragment, signs in, waits, and shows the
ballot by itself when the vote opens; no sideways scroll at 360 px, no serious axe finding."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from sqlmodel import Session

from service.auth import SESSION_COOKIE
from service.models import Role
from surveys.voting import hall
from surveys.voting.models import ProjectCreate, SessionCreate, SessionMode, VotingSession
from surveys.voting.projects import create_project
from surveys.voting.sessions import create_session, open_session
from tests.conftest import SECRETS
from tests.factories import make_user
from tests.frontend.axe import describe, violations
from tests.frontend.test_admin_browser import OVERFLOW
from tests.frontend.test_admin_proposals import cookie_for
from tests.surveys.voting.factories import make_deputies, make_units

pytestmark = pytest.mark.browser


def test_sign_in_desk_cards_and_the_deputy_page_on_a_phone(
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
            mode=SessionMode.hall,
        )
        sid = create_session(s, data=data, actor="admin").id or 0
        s.commit()
    page = new_page(width=360)
    cookie = cookie_for(app, admin)
    page.context.add_cookies([{"name": SESSION_COOKIE, "value": cookie, "url": live_server}])

    page.goto(f"{live_server}/admin/voting-sessions/{sid}?lang=zh-CN")
    page.click("#hall-desk-link")
    page.wait_for_url(f"**/admin/voting-sessions/{sid}/hall")
    assert page.locator("#desk-seated").inner_text() == "3"
    assert page.evaluate(OVERFLOW) <= 0
    found = violations(page)
    assert found == [], describe(found)
    page.fill("#desk-q", "代表2")
    page.click("text=查找")
    page.locator("#desk-found button").first.click()
    page.wait_for_selector("#desk-present-list")
    assert page.locator("#desk-present").inner_text() == "1"
    assert page.evaluate(OVERFLOW) <= 0
    found = violations(page)
    assert found == [], describe(found)

    # The issuing form answers the printable cards (in a new tab).
    with page.context.expect_page() as tab:
        page.click("#desk-issue")
    cards = tab.value
    cards.wait_for_selector(".seat-card")
    assert cards.locator(".seat-card").count() == 3
    assert cards.locator(".seat-card svg").count() == 3
    codes = re.findall(r"[A-Z2-9]{4}(?:-[A-Z2-9]{4}){4}", cards.locator("#seat-cards").inner_text())
    SECRETS.update(codes)
    assert len(codes) == 3
    found = violations(cards)
    assert found == [], describe(found)
    cards.emulate_media(media="print")
    assert not cards.locator(".console-nav").is_visible()
    assert not cards.locator("#print-cards").is_visible()
    assert cards.locator(".seat-card").first.is_visible()
    cards.close()

    # A deputy's phone (no account) scans deputy001's card: the code is in the fragment.
    phone = new_page(width=360)
    phone.goto(f"{live_server}/hall/{sid}/card#{codes[0]}")
    phone.wait_for_selector("#card-waiting")
    assert codes[0] not in phone.url  # the fragment is cleared from the address
    assert "代表1" in phone.locator("#card-waiting").inner_text()
    assert phone.evaluate(OVERFLOW) <= 0
    found = violations(phone)
    assert found == [], describe(found)
    with Session(app.state.engine) as s:
        vs = s.get(VotingSession, sid)
        assert vs is not None
        assert hall.attendance_summary(s, vs).present == 2  # the quorum: 2 of 3
        open_session(s, vs=vs, actor="admin")
        s.commit()
    # The waiting page notices the opening and shows the ballot by itself.
    phone.wait_for_selector("#ballot", timeout=15_000)
    for pid in ids:
        phone.check(f"input[name=c{pid}][value=for]")
    phone.click("#review")
    phone.click("#cast")
    phone.wait_for_selector("#receipt-code")
    SECRETS.add(phone.locator("#receipt-code").inner_text().replace("\n", ""))
    found = violations(phone)
    assert found == [], describe(found)
    assert page_errors == []
