"""In Chromium: the organisation department reads a democratic evaluation's results on a
phone (charts drawn, no sideways scroll at 360 px, no serious accessibility finding), and a
subject's report prints on one A4 page, with its note on the pooled rater group (three team
members are under k) in it."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from sqlmodel import Session

from service.auth import SESSION_COOKIE
from service.models import Role
from tests.analytics.evaluation import world
from tests.factories import make_user
from tests.frontend.axe import describe, violations
from tests.frontend.test_admin_browser import OVERFLOW
from tests.frontend.test_admin_proposals import cookie_for

pytestmark = pytest.mark.browser


def test_results_on_a_phone_and_the_report_on_one_a4_page(
    app: FastAPI, live_server: str, new_page: Callable[..., Any], page_errors: list[str]
) -> None:
    w = world.build(app.state.engine)
    with Session(app.state.engine, expire_on_commit=False) as s:
        org = make_user(s, Role.organisation, "orgdept")
    page = new_page(width=360)
    cookie = cookie_for(app, org)
    page.context.add_cookies([{"name": SESSION_COOKIE, "value": cookie, "url": live_server}])

    page.goto(f"{live_server}/admin/evaluations?lang=zh-CN")
    page.click(f'a[href="/admin/evaluations/{w.campaign_id}"] >> nth=0')
    page.wait_for_selector('body[data-charts-ready="2"]')
    # Each chart drew its marks: three subjects' scores, four grades' stacked bars.
    assert page.locator("#plot-scores .point").count() == 3
    assert page.locator("#plot-grades .bars .point").count() >= 3
    assert page.evaluate(OVERFLOW) <= 0
    found = violations(page)
    assert found == [], describe(found)

    page.click(f'a[href="/admin/evaluations/{w.campaign_id}/subjects/{w.subject_ids[2]}"]')
    page.wait_for_selector('body[data-charts-ready="2"]')
    assert page.locator("#plot-by_group .bars .point").count() >= 2
    assert page.evaluate(OVERFLOW) <= 0
    found = violations(page)
    assert found == [], describe(found)
    href = page.get_attribute('[data-testid="report-link"]', "href")
    assert href is not None

    page.goto(live_server + href)
    assert page.locator("#subject-name").inner_text() == "张明"
    # The longest report: the pooled group's weight note is printed too.
    assert page.locator(".weight-note").count() >= 1
    found = violations(page)
    assert found == [], describe(found)
    pdf = page.pdf(format="A4", print_background=True)
    assert len(re.findall(rb"/Type\s*/Page[^s]", pdf)) == 1
    assert [e for e in page_errors if "404" not in e] == []
