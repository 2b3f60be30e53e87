"""The dashboard's comparison panel in Chromium: the comparability verdict is shown above the
side-by-side scores, as a warning listing the differences when the questionnaires differ."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI

from service.models import Role
from tests.frontend.dashboard_factory import build_world
from tests.synthetic import another_campaign, make_campaign

pytestmark = pytest.mark.browser


def test_comparison_panel_warns_when_questionnaires_differ(
    app: FastAPI, new_page: Callable[..., Any], live_server: str, page_errors: list[str]
) -> None:
    world = build_world(app.state.engine, app.state.settings, responses=400)
    same = another_campaign(app.state.engine, world.syn).campaign_id
    other = make_campaign(
        app.state.engine,
        units=2,
        areas=1,
        prefix="cmpo",
        questions={"q_x": {"type": "rating", "dimension": "attitude", "min": 1, "max": 10}},
    ).campaign_id
    page = new_page()
    cookie = world.cookies[Role.evaluator]
    page.context.add_cookies(
        [{"name": k, "value": v, "url": live_server} for k, v in cookie.items()]
    )
    page.goto(f"{live_server}/dashboard?lang=en&campaign_id={world.syn.campaign_id}")
    page.locator("#compare summary").click()

    page.select_option("#compare-with", str(other))
    page.locator("#compare-form button").click()
    warning = page.locator('#compare-warning[data-comparable="false"]')
    warning.wait_for(timeout=30_000)
    text = warning.inner_text()
    assert "not directly comparable" in text and "Another questionnaire" in text
    assert "Rated question q_attitude is asked in one campaign only" in text
    # The first campaign's published cells, with nothing on the other side.
    assert page.locator("#compare-table tbody tr").count() > 0

    page.select_option("#compare-with", str(same))
    page.locator("#compare-form button").click()
    page.locator('#compare-warning[data-comparable="true"]').wait_for(timeout=30_000)
    assert "can be compared" in page.locator("#compare-warning").inner_text()
    assert page_errors == []
