"""The console in Chromium: an admin logs in, lands on /admin and manages an account; the
console's pages do not scroll sideways at 360 px."""

# ruff: noqa: F811  (pytest fixtures imported from tests/surveys/forms/fixtures.py)

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from sqlmodel import Session, select

from service.models import Role, User
from tests.conftest import SECRETS
from tests.factories import PASSWORD, make_user
from tests.surveys.forms.fixtures import World, admin, world  # noqa: F401 (fixtures used here)

pytestmark = pytest.mark.browser

OVERFLOW = "document.documentElement.scrollWidth - document.documentElement.clientWidth"


def _log_in(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/login?lang=zh-CN")
    page.fill('input[name="username"]', username)
    page.fill('input[name="password"]', PASSWORD)
    page.click("form.stack button[type=submit]")


def test_admin_creates_resets_and_deactivates_a_deputy(
    new_page: Callable[..., Any],
    live_server: str,
    session: Session,
    world: World,
    page_errors: list[str],
) -> None:
    make_user(session, Role.admin, "boss")
    page = new_page(width=1280)
    _log_in(page, live_server, "boss")
    page.wait_for_url(f"{live_server}/admin")
    assert page.locator("h1").inner_text() == "概览"
    assert page.locator("a.admin-link").is_visible()
    layout = "getComputedStyle(document.querySelector('.console-layout')).display"
    assert page.evaluate(layout) == "grid"  # the console's stylesheet is served and applied
    page.click('.console-nav a[href="/admin/users"]')
    page.wait_for_url("**/admin/users")

    # A refused password is named beside its field, the other input kept.
    page.fill('input[name="username"]', "dep.new")
    page.fill('input[name="display_name"]', "新代表")
    page.select_option('form[action="/admin/users"] select[name="role"]', "deputy")
    page.fill('input[name="password"]', "short")
    page.click('form[action="/admin/users"] button[type=submit]')
    page.wait_for_selector("#err-password")
    assert page.locator("#err-password").inner_text() == "密码至少需要 10 个字符。"
    assert page.input_value('input[name="username"]') == "dep.new"
    page.fill('input[name="password"]', "lantern-river-42")
    page.click('form[action="/admin/users"] button[type=submit]')
    page.wait_for_selector("text=已创建账号 dep.new")
    row = page.locator('tr[data-username="dep.new"]')
    assert "人大代表" in row.inner_text()

    row.locator("button", has_text="重置密码").click()
    page.wait_for_selector('[data-testid="one-time-password"]')
    password = page.locator('[data-testid="one-time-password"]').inner_text()
    SECRETS.add(password)
    assert re.fullmatch(r"[2-9A-Z]{4}-[2-9A-Z]{4}-[2-9A-Z]{4}", password)

    page.locator('tr[data-username="dep.new"] button', has_text="停用").click()
    page.wait_for_selector("text=已停用账号 dep.new")
    assert "已停用" in page.locator('tr[data-username="dep.new"]').inner_text()
    session.expire_all()
    stored = session.exec(select(User).where(User.username == "dep.new")).one()
    assert stored.role == Role.deputy and not stored.is_active

    # At 360 px neither console page scrolls sideways.
    phone = new_page(width=360, height=740)
    _log_in(phone, live_server, "boss")
    phone.wait_for_url(f"{live_server}/admin")
    for path in ("/admin", "/admin/users", "/admin?lang=en", "/admin/users?lang=en"):
        phone.goto(f"{live_server}{path}")
        assert phone.evaluate(OVERFLOW) <= 0, path
    # Expected: the refused form's 422, and the site's missing favicon.
    unexpected = [e for e in page_errors if "422" not in e and "404" not in e]
    assert unexpected == [], unexpected
