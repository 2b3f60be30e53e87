"""In Chromium at 360 px: the admin shortlists an approved proposal through the pre-filled
project form, edits the project, reports progress, and /projects shows it; neither
/admin/projects nor /admin/proposals (nor a project's page) scrolls sideways."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from sqlmodel import Session

from service.auth import SESSION_COOKIE
from service.models import Role
from surveys.voting.models import ProposalCreate
from surveys.voting.proposals import create_proposal
from tests.factories import make_user
from tests.frontend.test_admin_browser import OVERFLOW
from tests.frontend.test_admin_proposals import cookie_for
from tests.surveys.voting.factories import make_units


@pytest.mark.browser
def test_shortlist_edit_report_progress_and_the_public_page(
    app: FastAPI, live_server: str, new_page: Callable[..., Any], page_errors: list[str]
) -> None:
    with Session(app.state.engine, expire_on_commit=False) as s:
        make_units(s)
        admin = make_user(s, Role.admin, "admin")
        data = ProposalCreate(
            title="小区增设休息座椅",
            description="公园步道旁每隔两百米一处。",
            category="文体",
            area_code="heping",
            rough_cost=80_000,
        )
        proposal_id = create_proposal(s, data=data).id
        s.commit()
    page = new_page(width=360, height=740)
    page.context.add_cookies(
        [{"name": SESSION_COOKIE, "value": cookie_for(app, admin), "url": live_server}]
    )
    page.goto(f"{live_server}/admin/proposals?lang=zh-CN")
    assert page.evaluate(OVERFLOW) <= 0
    page.locator(f"#proposal-{proposal_id} a[data-action=shortlist]").click()
    page.wait_for_url("**/admin/projects/new?proposal=*")
    assert page.input_value("input[name=title]") == "小区增设休息座椅"
    assert page.input_value("input[name=budget]") == "80000"
    assert page.input_value("select[name=area_code]") == "heping"
    assert page.evaluate(OVERFLOW) <= 0
    page.select_option("select[name=sponsor_unit_code]", "civil")
    page.fill("input[name=budget]", "90000")
    page.locator("button[type=submit]", has_text="确认转为候选项目").click()
    page.wait_for_selector("p.notice")
    assert "已转为候选项目" in page.locator("p.notice").inner_text()
    assert page.evaluate(OVERFLOW) <= 0

    # Edit: an English title, and the status "selected" so progress can be reported.
    page.fill("input[name=title_en]", "Benches along the park path")
    page.select_option("select[name=status]", "selected")
    page.locator("button[type=submit]", has_text="保存修改").click()
    page.wait_for_selector("text=修改已保存")
    page.fill("input[name=date]", "2027-04-01")
    page.fill("input[name=percent_done]", "30")
    page.fill("textarea[name=note]", "已安装十二处座椅")
    page.locator("button[type=submit]", has_text="发布进展").click()
    page.wait_for_selector("text=进展已发布")
    assert "已安装十二处座椅" in page.locator("table.updates").inner_text()
    assert page.evaluate(OVERFLOW) <= 0

    page.goto(f"{live_server}/admin/projects?lang=zh-CN")
    row = page.locator(".project-row", has_text="小区增设休息座椅")
    assert "实施中" in row.inner_text() and "90,000" in row.inner_text()
    for path in ("/admin/projects", "/admin/proposals", "/admin/projects?lang=en"):
        page.goto(f"{live_server}{path}")
        assert page.evaluate(OVERFLOW) <= 0, path

    resident = new_page(width=360, height=740)
    resident.goto(f"{live_server}/projects?lang=zh-CN")
    card = resident.locator("#tracker .card", has_text="小区增设休息座椅")
    assert "30%" in card.inner_text() and "已安装十二处座椅" in card.inner_text()
    assert page_errors == []
