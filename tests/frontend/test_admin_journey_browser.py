"""A new district office's whole job in Chromium at 1280 px, with no API call and no command:
a unit tree, a questionnaire, an invitation campaign whose answers arrive while the office
watches, closed early; deputies' accounts, two projects, a voting session over them opened,
its turnout rising while deputies vote on their phones, closed and published. Then every
console page the journey passed through is opened at 360 px: none scrolls sideways.

The only thing made outside the browser is the office's own admin account (the install's
``minyi users create``); the test reads the database only to check what the pages did.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlmodel import Session, select

from service.models import Role
from surveys.forms.models import SurveyResponse
from surveys.voting.models import Project
from tests.conftest import SECRETS
from tests.factories import make_user
from tests.frontend.test_admin_browser import OVERFLOW, _log_in
from tests.frontend.test_admin_surveys_browser import _add

pytestmark = pytest.mark.browser

DEPUTY_PASSWORD = "harbour-lantern-317"
UNIT_FORM = 'form[action="/admin/units"]'
USER_FORM = 'form[action="/admin/users"]'


def _unit(page: Any, code: str, name: str, kind: str, parent: str = "") -> None:
    page.fill(f'{UNIT_FORM} input[name="code"]', code)
    page.fill(f'{UNIT_FORM} input[name="name"]', name)
    page.select_option(f'{UNIT_FORM} select[name="kind"]', kind)
    if parent:
        page.select_option(f'{UNIT_FORM} select[name="parent_code"]', parent)
    page.click(f"{UNIT_FORM} button[type=submit]")
    page.wait_for_selector(f'li[data-code="{code}"]')


def _deputy(page: Any, username: str, name: str) -> None:
    page.fill(f'{USER_FORM} input[name="username"]', username)
    page.fill(f'{USER_FORM} input[name="display_name"]', name)
    page.select_option(f'{USER_FORM} select[name="role"]', "deputy")
    page.fill(f'{USER_FORM} input[name="password"]', DEPUTY_PASSWORD)
    page.click(f"{USER_FORM} button[type=submit]")
    page.wait_for_selector(f'tr[data-username="{username}"]')


def _project(page: Any, base: str, title: str, budget: int) -> None:
    page.goto(f"{base}/admin/projects/new")
    page.fill('input[name="title"]', title)
    page.fill('input[name="budget"]', str(budget))
    page.select_option('select[name="sponsor_unit_code"]', "street-e2e")
    page.click('form[action="/admin/projects/new"] button[type=submit]')
    page.wait_for_url("**done=created")


def _answer(new_page: Callable[..., Any], base: str, cid: int, code: str, mark: str) -> None:
    """A resident on a phone: the invitation code, one rating and a suggestion."""
    phone = new_page(width=360, height=740)
    phone.goto(f"{base}/s/{cid}?lang=zh-CN")
    phone.fill('input[name="code"]', code)
    phone.click("button[type=submit]")
    phone.wait_for_selector("#survey")
    phone.locator(f'label:has(input[name="a.attitude"][value="{mark}"])').click()
    phone.fill('textarea[name="a.advice"]', "窗口排队时间可以再短一些")
    phone.click("#survey button[type=submit]")
    phone.wait_for_url(f"**/s/{cid}/thanks**")
    phone.close()


def _vote(new_page: Callable[..., Any], base: str, username: str, sid: int) -> None:
    """A deputy on a phone: log in, mark both projects, review, cast."""
    phone = new_page(width=360, height=740)
    phone.goto(f"{base}/login?lang=zh-CN")
    phone.fill('input[name="username"]', username)
    phone.fill('input[name="password"]', DEPUTY_PASSWORD)
    phone.click("form.stack button[type=submit]")
    phone.wait_for_load_state()
    phone.goto(f"{base}/vote/{sid}?lang=zh-CN")
    cards = phone.locator(".ballot-card")
    for i in range(cards.count()):
        cards.nth(i).get_by_text("赞成", exact=True).click()
    phone.locator("#review").click()
    phone.wait_for_selector(".review")
    phone.locator("#cast").click()
    SECRETS.add(phone.locator("#receipt-code").inner_text().strip())
    phone.close()


def test_an_office_runs_a_survey_and_a_vote_from_the_console(
    new_page: Callable[..., Any],
    live_server: str,
    session: Session,
    page_errors: list[str],
) -> None:
    SECRETS.add(DEPUTY_PASSWORD)
    make_user(session, Role.admin, "office")
    base = live_server
    page = new_page(width=1280)
    _log_in(page, base, "office")
    page.wait_for_url(f"{base}/admin")

    # A unit tree: a street office and its service window.
    page.click('.console-nav a[href="/admin/units"]')
    page.wait_for_url("**/admin/units")
    _unit(page, "street-e2e", "幸福街道", "street")
    _unit(page, "window-e2e", "幸福街道便民服务窗口", "service_window", parent="street-e2e")
    assert page.locator('li[data-code="street-e2e"] li[data-code="window-e2e"]').count() == 1

    # A questionnaire: a rating on one dimension and an open question, seen in the preview.
    page.click('.console-nav a[href="/admin/surveys"]')
    page.click("#new-survey")
    page.wait_for_url("**/admin/surveys/new")
    page.fill('input[name="title"]', "便民窗口评价")
    rating = _add(page, "rating", "工作人员的服务态度")
    page.fill(f"{rating} input[name=b-key]", "attitude")
    page.fill(f"{rating} input[name=b-dimension]", "attitude")
    advice = _add(page, "text", "您对窗口有什么建议？")
    page.fill(f"{advice} input[name=b-key]", "advice")
    page.wait_for_selector("#preview #q-advice")
    page.click("#save")
    page.wait_for_selector("text=已新建问卷（v1）。")

    # A campaign by invitation over the window, with two codes printed on a sheet.
    page.click('.console-nav a[href="/admin/campaigns"]')
    page.click('a[href="/admin/campaigns/new"]')
    page.select_option('select[name="survey_id"]', label="便民窗口评价 (v1)")
    page.fill('input[name="title"]', "幸福街道窗口满意度调查")
    page.fill('input[name="opens_at"]', "2026-01-01T09:00")
    page.fill('input[name="closes_at"]', "2099-12-31T18:00")
    page.select_option('select[name="access"]', "invitation")
    page.check('input[name="unit_codes"][value="window-e2e"]')
    page.click('form[action="/admin/campaigns"] button[type=submit]')
    page.wait_for_selector("text=已创建评议活动")
    campaign_url = page.url.split("?")[0]
    cid = int(re.findall(r"/admin/campaigns/(\d+)", campaign_url)[0])
    page.fill('input[name="count"]', "2")
    page.fill('input[name="batch"]', "第一批")
    page.select_option('select[name="format"]', "sheet")
    page.click(f'form[action="/admin/campaigns/{cid}/invitations"] button[type=submit]')
    page.wait_for_selector(".qr-code")
    codes = [c.strip() for c in page.locator(".qr-code").all_inner_texts()]
    assert len(codes) == 2
    SECRETS.update(codes)

    # Residents answer on their phones; the office sees each answer arrive.
    for n, (code, mark) in enumerate(zip(codes, ("5", "3"), strict=True), start=1):
        _answer(new_page, base, cid, code, mark)
        page.goto(campaign_url)
        assert page.locator("#by-unit").inner_text().count("window-e2e") == 1
        expect(page.locator("#by-unit tbody tr td.num").first).to_have_text(str(n))
    session.expire_all()
    assert len(session.exec(select(SurveyResponse)).all()) == 2

    # Closed early, through the confirmation.
    page.click("text=提前结束…")
    page.click("button:has-text('确认立即结束')")
    page.wait_for_selector("text=问卷不再接收答卷")
    assert page.locator("#campaign-status").inner_text() == "已结束"

    # The deputies' accounts and two candidate projects.
    page.click('.console-nav a[href="/admin/users"]')
    _deputy(page, "dep.e2e1", "代表甲")
    _deputy(page, "dep.e2e2", "代表乙")
    _project(page, base, "幸福街道老年食堂", 600_000)
    _project(page, base, "社区口袋公园", 500_000)
    session.expire_all()
    ids = [p.id for p in session.exec(select(Project).order_by(Project.id)).all()]  # type: ignore[arg-type]

    # A voting session over them: created, its electorate chosen, opened.
    page.click('.console-nav a[href="/admin/voting-sessions"]')
    page.click("#new-session")
    page.wait_for_url("**/admin/voting-sessions/new")
    page.fill("input[name=title]", "幸福街道民生实事项目票决")
    page.fill("input[name=year]", "2027")
    page.fill("input[name=budget_cap]", "1200000")
    for pid in ids:
        page.check(f"#project-{pid}")
    expect(page.locator("#total-cost")).to_have_text("1,100,000")
    page.click("#session-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/admin/voting-sessions/\d+\?done=created"))
    sid = int(re.findall(r"/admin/voting-sessions/(\d+)", page.url)[0])
    page.click(f'a[href="/admin/voting-sessions/{sid}/electorate"] >> nth=0')
    page.check("#toggle-all")
    page.click("#electorate-form button[type=submit]")
    page.wait_for_url("**?done=electorate")
    assert page.locator("#electorate-count").inner_text() == "(2)"
    page.click("a[data-action=open]")
    page.click("button[type=submit][name=confirm]")
    page.wait_for_url("**?done=open")
    assert page.locator("#turnout-cast").inner_text() == "0"

    # Deputies vote on their phones; the office's page counts them without a reload.
    page.evaluate("() => { document.body.dataset.marker = 'not reloaded'; }")
    _vote(new_page, base, "dep.e2e1", sid)
    expect(page.locator("#turnout-cast")).to_have_text("1", timeout=15_000)
    _vote(new_page, base, "dep.e2e2", sid)
    expect(page.locator("#turnout-cast")).to_have_text("2", timeout=15_000)
    assert page.evaluate("() => document.body.dataset.marker") == "not reloaded"

    # Closed and published, each through its confirmation; the public results follow.
    page.click("a[data-action=close]")
    page.click("button[type=submit][name=confirm]")
    page.wait_for_url("**?done=close")
    assert page.locator(".result-rows tbody tr").count() == 2
    page.click("a[data-action=publish]")
    page.click("button[type=submit][name=confirm]")
    page.wait_for_url("**?done=publish")
    page.click("#results-link")
    page.wait_for_url(f"**/results/{sid}**")
    assert "幸福街道民生实事项目票决" in page.content()

    # Every console page of the journey at 360 px: nothing scrolls sideways.
    phone = new_page(width=360, height=740)
    _log_in(phone, base, "office")
    phone.wait_for_url(f"{base}/admin")
    paths = phone.eval_on_selector_all(".console-nav a", "els => els.map(a => a.pathname)")
    paths += [
        f"/admin/campaigns/{cid}",
        f"/admin/projects/{ids[0]}",
        f"/admin/voting-sessions/{sid}",
        "/admin/users/import",
    ]
    for path in paths:
        phone.goto(f"{base}{path}")
        phone.wait_for_load_state("networkidle")
        assert phone.evaluate(OVERFLOW) <= 0, path
    # Expected: the site's missing favicon on the resident and deputy pages.
    assert [e for e in page_errors if "404" not in e] == []
