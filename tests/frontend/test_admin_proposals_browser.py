"""In Chromium: a resident proposes on /projects, the admin approves it in /admin/proposals
(through the confirmation page), and the proposal appears on /projects."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from sqlmodel import Session

from service.auth import SESSION_COOKIE
from service.models import Role
from tests.factories import make_user
from tests.frontend.test_admin_proposals import cookie_for
from tests.surveys.voting.factories import make_units


@pytest.mark.browser
def test_resident_proposes_admin_approves_it_appears(
    app: FastAPI, live_server: str, new_page: Callable[..., Any], page_errors: list[str]
) -> None:
    with Session(app.state.engine, expire_on_commit=False) as s:
        make_units(s)
        admin = make_user(s, Role.admin, "admin")
    resident = new_page(width=360, height=740)
    resident.goto(f"{live_server}/projects?lang=zh-CN")
    resident.fill("input[name=title]", "小区增设休息座椅")
    resident.select_option("select[name=category]", "养老")
    resident.locator("#propose button[type=submit]").click()
    resident.wait_for_selector("#flash")
    assert "审核" in resident.locator("#flash").inner_text()
    assert resident.locator(".proposal").count() == 0

    office = new_page(width=1280)
    office.context.add_cookies(
        [{"name": SESSION_COOKIE, "value": cookie_for(app, admin), "url": live_server}]
    )
    office.goto(f"{live_server}/admin/proposals?lang=zh-CN")
    row = office.locator(".proposal-row", has_text="小区增设休息座椅")
    assert "待审核" in row.inner_text()
    row.locator("a[data-action=approve]").click()
    office.wait_for_url("**/approve")
    office.locator("button[type=submit]", has_text="通过").click()
    office.wait_for_selector("p.notice")
    assert "已通过" in office.locator("p.notice").inner_text()
    assert "已通过" in office.locator(".proposal-row", has_text="小区增设休息座椅").inner_text()

    resident.goto(f"{live_server}/projects?lang=zh-CN")
    assert "小区增设休息座椅" in resident.locator(".proposal").first.inner_text()
    assert page_errors == []
