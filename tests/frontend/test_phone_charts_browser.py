"""At 360 px in Chromium: the heatmap draws its cells, chart toolbars stay clear of the
titles, the tracker's progress labels are whole, the results chart does not scroll sideways
and the receipt code breaks only between its groups (issue 18)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from fastapi import FastAPI
from sqlmodel import Session

from service.auth import SESSION_COOKIE
from service.models import Role
from surveys.voting.models import Project, ProjectUpdateCreate
from surveys.voting.projects import IMPLEMENTATION, add_progress
from tests.conftest import SECRETS
from tests.frontend.dashboard_factory import build_world
from tests.frontend.test_voting_pages import build, cookie_for, finish

pytestmark = pytest.mark.browser

# Charts whose toolbar box (drawn, even when it waits for a hover) meets their title box.
TOOLBAR_ON_TITLE = """() => Array.from(document.querySelectorAll('.js-plotly-plot')).filter(d => {
  const bar = d.querySelector('.modebar'), title = d.querySelector('.gtitle');
  if (!bar || !title || !title.textContent) return false;
  const a = bar.getBoundingClientRect(), b = title.getBoundingClientRect();
  return a.width > 0 && a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
}).map(d => d.id)"""
OVERFLOW = "document.documentElement.scrollWidth - document.documentElement.clientWidth"


def test_dashboard_heatmap_and_toolbars_at_360(
    app: FastAPI, new_page: Callable[..., Any], live_server: str, page_errors: list[str]
) -> None:
    dw = build_world(app.state.engine, app.state.settings, responses=300)
    for lang in ("zh-CN", "en"):
        page = new_page(width=360, height=800)
        page.context.add_cookies(
            [
                {"name": k, "value": v, "url": live_server}
                for k, v in dw.cookies[Role.evaluator].items()
            ]
        )
        page.goto(f"{live_server}/dashboard?lang={lang}")
        page.wait_for_selector("body[data-charts-ready]", timeout=30_000)
        cells = page.evaluate(
            """() => { const d = document.getElementById('plot-heatmap');
                 const img = d.querySelector('.hm image');
                 return [d._fullLayout._size.w, img ? img.getBoundingClientRect().width : 0]; }"""
        )
        plot_width, image_width = cells
        assert plot_width >= 150 and image_width >= 150, (lang, cells)
        assert page.evaluate(TOOLBAR_ON_TITLE) == [], lang
        assert page.evaluate(OVERFLOW) <= 0
    assert page_errors == []


def test_tracker_labels_results_chart_and_receipt_at_360(
    app: FastAPI, new_page: Callable[..., Any], live_server: str, page_errors: list[str]
) -> None:
    world = build(app)
    # The receipt in the larger-text mode, where the code is widest.
    page = new_page(width=360, height=740)
    page.context.add_cookies(
        [
            {
                "name": SESSION_COOKIE,
                "value": cookie_for(app, world.deputies[0]),
                "url": live_server,
            },
            {"name": "text_size", "value": "large", "url": live_server},
        ]
    )
    page.goto(f"{live_server}/vote/{world.sid}?lang=zh-CN")
    cards = page.locator(".ballot-card")
    for i in range(cards.count()):
        cards.nth(i).get_by_text("赞成", exact=True).click()
    page.locator("#review").click()
    page.wait_for_selector(".review")
    page.locator("#cast").click()
    code = page.locator("#receipt-code")
    receipt = code.inner_text().strip()
    SECRETS.add(receipt)
    assert re.fullmatch(r"[A-Z0-9]{4}(-[A-Z0-9]{4}){4}", receipt)
    lines = page.evaluate(
        "() => Array.from(document.querySelectorAll('#receipt-code .group'))"
        ".map(g => g.getClientRects().length)"
    )
    assert lines == [1] * 5, lines  # no group is split across lines
    assert page.evaluate(OVERFLOW) <= 0

    p = world.project_ids
    finish(app, world, [{i: "for" for i in p}] * 4, skip=1)
    with Session(app.state.engine) as s:
        for pid, pct in zip(p, (100, 20, 55, 0), strict=True):
            proj = s.get(Project, pid)
            assert proj is not None
            if proj.status in IMPLEMENTATION:
                data = ProjectUpdateCreate(date=date(2027, 7, 1), percent_done=pct)
                add_progress(s, project=proj, data=data, actor="admin")
        s.commit()
    phone = new_page(width=360, height=740)
    for lang in ("zh-CN", "en"):
        phone.goto(f"{live_server}/projects?lang={lang}")
        phone.wait_for_selector("#plot-tracker .main-svg", timeout=20_000)
        labels = phone.evaluate(
            """() => { const svg = document.querySelector('#plot-tracker .main-svg').getBoundingClientRect();
                 return Array.from(document.querySelectorAll('#plot-tracker text.bartext')).map(t => {
                   const r = t.getBoundingClientRect();
                   return [t.textContent, r.right <= svg.right + 0.5, !t.closest('[clip-path]')]; }); }"""
        )
        assert ["100%", True, True] in labels, labels
        assert all(whole and unclipped for _, whole, unclipped in labels), labels
        assert phone.evaluate(TOOLBAR_ON_TITLE) == [], lang

        phone.goto(f"{live_server}/results/{world.sid}?lang={lang}")
        phone.wait_for_selector("#plot-vote .main-svg", timeout=20_000)
        wrap = phone.evaluate(
            "() => { const w = document.querySelector('.figure-wrap');"
            " return [w.scrollWidth, w.clientWidth]; }"
        )
        assert wrap[0] <= wrap[1], wrap  # the chart fits: nothing to scroll sideways
        assert phone.locator("#plot-vote .bars .point").count() >= 4
        assert phone.evaluate(TOOLBAR_ON_TITLE) == [], lang
        assert phone.evaluate(OVERFLOW) <= 0
    assert page_errors == []
