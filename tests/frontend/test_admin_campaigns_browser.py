"""The console's campaign pages in Chromium: an admin creates a campaign through the form,
fixes a refused field, closes it early after the confirmation step; no campaign page (the
import preview and the printed codes included) scrolls sideways at 360 px."""

# ruff: noqa: F811  (pytest fixtures imported from tests/surveys/forms/fixtures.py)

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from service.models import Role
from surveys.forms.models import Campaign
from tests.conftest import SECRETS
from tests.factories import make_user
from tests.frontend.test_admin_browser import OVERFLOW, _log_in
from tests.surveys.forms.factories import create_campaign, response_body
from tests.surveys.forms.fixtures import World, admin, world  # noqa: F401 (fixtures used here)

pytestmark = pytest.mark.browser


def test_admin_creates_and_closes_a_campaign(
    new_page: Callable[..., Any],
    live_server: str,
    session: Session,
    world: World,
    client: TestClient,
    page_errors: list[str],
) -> None:
    make_user(session, Role.admin, "boss")
    page = new_page(width=1280)
    _log_in(page, live_server, "boss")
    page.wait_for_url(f"{live_server}/admin")
    page.click('.console-nav a[href="/admin/campaigns"]')
    page.click('a[href="/admin/campaigns/new"]')
    page.select_option('select[name="survey_id"]', str(world.survey_id))
    page.fill('input[name="title"]', "浏览器里新建的活动")
    page.fill('input[name="opens_at"]', "2026-01-01T09:00")
    page.fill('input[name="closes_at"]', "2025-01-01T09:00")
    page.check('input[name="unit_codes"][value="dept-civil"]')
    page.click('form[action="/admin/campaigns"] button[type=submit]')
    page.wait_for_selector("#err-closes_at")
    # The input is kept; only the refused field needs fixing.
    assert page.input_value('input[name="title"]') == "浏览器里新建的活动"
    assert page.is_checked('input[name="unit_codes"][value="dept-civil"]')
    page.fill('input[name="closes_at"]', "2099-12-31T18:00")
    page.click('form[action="/admin/campaigns"] button[type=submit]')
    page.wait_for_selector("text=已创建评议活动")
    assert page.locator("h1").inner_text() == "浏览器里新建的活动"
    created = session.exec(select(Campaign).where(Campaign.title == "浏览器里新建的活动")).one()

    page.click("text=提前结束…")
    page.wait_for_selector("text=确认立即结束")
    page.click("button:has-text('确认立即结束')")
    page.wait_for_selector("text=问卷不再接收答卷")
    assert page.locator("#campaign-status").inner_text() == "已结束"

    # At 360 px no campaign page scrolls sideways (wide tables scroll in their wrapper).
    # with responses per day and unit, and an invitation campaign's batches, on the pages.
    for _ in range(3):
        r = client.post(f"/api/v1/campaigns/{world.campaign_id}/responses", json=response_body())
        assert r.status_code == 201, r.text
    invited = create_campaign(client, world.admin, world.survey_id, access="invitation")
    r = client.post(
        f"/api/v1/campaigns/{invited}/invitations",
        json={"count": 2, "batch": "一个相当长的批次名称用来检查表格不会撑宽页面"},
        headers=world.admin,
    )
    assert r.status_code == 201
    SECRETS.update(r.json()["codes"])
    phone = new_page(width=360, height=740)
    _log_in(phone, live_server, "boss")
    phone.wait_for_url(f"{live_server}/admin")
    for path in (
        "/admin/campaigns",
        "/admin/campaigns/new",
        f"/admin/campaigns/{world.campaign_id}",
        f"/admin/campaigns/{world.campaign_id}/close",
        f"/admin/campaigns/{created.id}?lang=en",
        f"/admin/campaigns/{invited}",
        "/admin/campaigns?lang=en",
    ):
        phone.goto(f"{live_server}{path}")
        assert phone.evaluate(OVERFLOW) <= 0, path
    # The paper import's preview (a wide table of the file) and the printed sheet of codes.
    phone.goto(f"{live_server}/admin/campaigns/{world.campaign_id}?lang=zh-CN")
    paper = "unit_code,attitude,efficiency,transparency,integrity,results,comment\n" + (
        "dept-civil,5,4,4,5,4,一条相当长的意见用来检查预览表格只在自己的框里横向滚动而不撑宽页面\n"
        * 3
    )
    phone.set_input_files(
        'form[action$="/import"] input[name="file"]',
        files=[{"name": "paper.csv", "mimeType": "text/csv", "buffer": paper.encode()}],
    )
    phone.click('form[action$="/import"] button[type=submit]')
    phone.wait_for_selector("#import-summary")
    assert "3" in phone.locator("#import-summary").inner_text()
    assert phone.evaluate(OVERFLOW) <= 0, "import preview"
    assert phone.locator("#import-errors").count() == 0
    phone.click("button:has-text('确认导入')")
    phone.wait_for_selector("text=已导入 3 份答卷")
    phone.goto(f"{live_server}/admin/campaigns/{invited}")
    phone.fill('input[name="count"]', "3")
    phone.click('form[action$="/invitations"] button[type=submit]')
    phone.wait_for_selector(".qr-code")
    SECRETS.update(phone.locator(".qr-code").all_inner_texts())
    assert phone.locator(".qr-card svg").count() == 3
    assert phone.evaluate(OVERFLOW) <= 0, "QR sheet"
    # Expected: the refused form's 422, and the site's missing favicon.
    unexpected = [e for e in page_errors if "422" not in e and "404" not in e]
    assert unexpected == [], unexpected
