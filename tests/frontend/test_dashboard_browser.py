"""The dashboard in Chromium: charts draw, filters redraw, clicks drill down, the layout holds,
and the downloaded report opens from a file with the network cut off."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from analytics.dashboard.options import FIGURE_NAMES
from service.models import Role
from tests.frontend.aspect_tags import tag_aspects
from tests.frontend.dashboard_factory import DashWorld, build_vote, build_world

pytestmark = pytest.mark.browser

READY = "body[data-charts-ready]"
DRAWN = """() => Array.from(document.querySelectorAll('.plot[data-figure]')).map(d => [
  d.dataset.figure,
  !!d.querySelector('.main-svg'),
  (d.data || []).reduce((n, t) => n + ((t.x || t.z || t.r || []).length), 0)
])"""


@pytest.fixture
def world(app: FastAPI) -> DashWorld:
    world = build_world(app.state.engine, app.state.settings, responses=1500, comment_share=0.2)
    tag_aspects(app.state.engine)  # as the aspect model will: the aspect panels draw
    build_vote(app)
    return world


def open_dashboard(
    new_page: Callable[..., Any],
    live_server: str,
    world: DashWorld,
    query: str = "",
    width: int = 1280,
) -> Any:
    page = new_page(width=width)
    cookie = world.cookies[Role.evaluator]
    page.context.add_cookies(
        [{"name": k, "value": v, "url": live_server} for k, v in cookie.items()]
    )
    page.goto(f"{live_server}/dashboard{query}")
    page.wait_for_selector(READY, timeout=30_000)
    return page


def trace_values(page: Any, name: str, attr: str = "x") -> Any:
    return page.evaluate(
        f"() => document.getElementById('plot-{name}').data.map(t => t.{attr} || null)"
    )


def test_every_chart_draws_its_data_without_console_errors(
    new_page: Callable[..., Any], live_server: str, world: DashWorld, page_errors: list[str]
) -> None:
    page = open_dashboard(new_page, live_server, world, query="?lang=zh-CN")
    drawn = {name: (svg, n) for name, svg, n in page.evaluate(DRAWN)}
    assert set(drawn) == set(FIGURE_NAMES)
    for name, (svg, n) in drawn.items():
        assert svg, f"{name}: no plot drawn"
        assert n > 0, f"{name}: the plot has no data"
    # Bars, heatmap cells and lines are really in the SVG, not only in the data.
    assert page.locator("#plot-ranking .bars .point").count() == 8
    assert page.locator("#plot-heatmap .hm, #plot-heatmap image").count() >= 1
    assert page.locator("#plot-trends .scatterlayer .trace").count() >= 4
    assert page.locator("#comments-table tbody tr").count() > 0
    assert page.locator("#plot-vote .bars .point").count() >= 15  # for, against, abstain
    assert page.locator("#plot-tracker .bars .point").count() >= 1
    # Complaints per dimension: bars with interval whiskers, one line per dimension.
    assert page.locator("#plot-aspects .bars .point").count() >= 3
    assert page.locator("#plot-aspects .errorbar").count() >= 3
    assert page.locator("#plot-aspect_trends .scatterlayer .trace").count() >= 3
    assert page.locator("#h-responses").inner_text().replace(",", "").isdigit()
    # Chinese page, Chinese chart toolbar.
    assert page.locator('#plot-ranking .modebar-btn[data-title="下载图片（PNG）"]').count() == 1
    assert page_errors == []


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_charts_are_drawn_once_in_margins_that_already_fit(
    new_page: Callable[..., Any], live_server: str, world: DashWorld, lang: str
) -> None:
    """The server's margins hold every label, so plotly.js never has to widen them and draw
    a chart a second time (which doubled the drawing time of the dashboard)."""
    page = open_dashboard(new_page, live_server, world, query=f"?lang={lang}")
    widened = page.evaluate(
        """() => Array.from(document.querySelectorAll('.plot[data-figure]')).flatMap(d => {
          const want = d.layout.margin, got = d._fullLayout._size;
          return ["l", "r", "t", "b"].filter(k => Math.round(got[k]) > want[k])
            .map(k => d.dataset.figure + "." + k + ": " + want[k] + " -> " + Math.round(got[k]));
        })"""
    )
    assert widened == []


def test_filters_redraw_without_reloading_the_page(
    new_page: Callable[..., Any], live_server: str, world: DashWorld, page_errors: list[str]
) -> None:
    page = open_dashboard(new_page, live_server, world)
    page.evaluate("() => { window.__sameDocument = true; }")
    before_heat = trace_values(page, "heatmap", "z")
    before_rank = trace_values(page, "ranking", "x")
    before_responses = page.locator("#h-responses").inner_text()

    with page.expect_response(lambda r: "/api/v1/dashboard?" in r.url):
        page.select_option("#f-area", world.syn.area_codes[0])
    page.wait_for_function("() => document.getElementById('dash-status').textContent === ''")
    assert trace_values(page, "heatmap", "z") != before_heat
    assert page.locator("#h-responses").inner_text() != before_responses

    with page.expect_response(lambda r: "unit_kind=service_window" in r.url):
        page.select_option("#f-kind", "service_window")
    page.wait_for_function("() => document.getElementById('plot-ranking').data[0].x.length === 4")
    assert trace_values(page, "ranking", "x") != before_rank

    with page.expect_response(lambda r: "period=week" in r.url):
        page.select_option("#f-period", "week")
    # Weekly periods: more of them than months, drawn as bars or marked hidden (weeks are rarely
    # whole disclosure blocks), or the chart says every week is hidden.
    page.wait_for_function(
        "() => { const p = document.getElementById('plot-responses');"
        " const xs = (p.data || []).reduce((n, t) => n + (t.x || []).length, 0);"
        " return xs > 5 || ((p.layout.annotations || []).length > 0 && !p.data.length); }"
    )
    with page.expect_response(lambda r: "weighted=true" in r.url):
        page.check("#f-weighted")
    page.wait_for_function("() => document.getElementById('dash-status').textContent === ''")
    # One month: the weeks that start in March (the synthetic responses start on 2026-01-01).
    with page.expect_response(lambda r: "month=2026-03" in r.url):
        page.fill("#f-month", "2026-03")
    page.wait_for_function("() => document.getElementById('dash-status').textContent === ''")
    page.wait_for_function(
        "() => (document.getElementById('plot-responses').data || [])"
        ".every(t => (t.x || []).every(x => x.startsWith('2026-03')))"
    )

    # The same document all along, and the address bar keeps the filters for sharing.
    assert page.evaluate("() => window.__sameDocument") is True
    assert "unit_kind=service_window" in page.url and "weighted=true" in page.url
    assert "month=2026-03" in page.url
    assert page_errors == []


def test_clicking_a_unit_in_the_ranking_opens_its_profile(
    new_page: Callable[..., Any], live_server: str, world: DashWorld, page_errors: list[str]
) -> None:
    page = open_dashboard(new_page, live_server, world)
    first_title = page.locator("#plot-profile .gtitle").text_content()
    codes = page.evaluate(
        "() => document.getElementById('plot-ranking').data[0].customdata.map(c => c[0])"
    )
    target = codes[-1]  # the last-ranked unit: not the one profiled by default
    bar = page.locator("#plot-ranking .bars .point path").nth(len(codes) - 1)
    bar.scroll_into_view_if_needed()
    box = bar.bounding_box()
    with page.expect_response(lambda r: f"unit_code={target}" in r.url):
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_function(
        "t => document.querySelector('#plot-profile .gtitle').textContent !== t", arg=first_title
    )
    title = page.locator("#plot-profile .gtitle").text_content()
    assert title != first_title
    names = page.evaluate("() => document.getElementById('plot-ranking').data[0].y")
    assert names[-1] in title
    assert names[-1] in page.locator("#plot-trends .gtitle").text_content()
    assert page.locator("#profile-clear").is_visible()
    assert f"unit_code={target}" in page.url
    page.wait_for_function(
        "t => Array.from(document.querySelectorAll('#comments-table tbody tr td:first-child'))"
        ".every(td => td.textContent === t)",
        arg=names[-1],
    )
    assert page_errors == []


@pytest.mark.parametrize("width", [1280, 768, 360])
def test_layout_holds_without_horizontal_scroll(
    new_page: Callable[..., Any],
    live_server: str,
    world: DashWorld,
    page_errors: list[str],
    width: int,
) -> None:
    page = open_dashboard(new_page, live_server, world, width=width)
    overflow = page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0
    # Every chart fits inside its card.
    widths = page.evaluate(
        """() => Array.from(document.querySelectorAll('.plot[data-figure]')).map(d => {
             const svg = d.querySelector('.main-svg');
             return [d.dataset.figure, svg.getBoundingClientRect().right,
                     d.closest('.chart').getBoundingClientRect().right];
           })"""
    )
    for name, svg_right, card_right in widths:
        assert svg_right <= card_right + 1, name
    # Two charts side by side on a wide screen, one per row on a tablet.
    ranking = page.locator("#chart-ranking").bounding_box()
    profile = page.locator("#chart-profile").bounding_box()
    if width == 1280:
        assert profile["x"] > ranking["x"] + ranking["width"] - 1
    else:
        assert profile["y"] >= ranking["y"] + ranking["height"] - 1
    assert page_errors == []


def test_report_opens_offline_from_a_file(
    new_page: Callable[..., Any],
    live_server: str,
    world: DashWorld,
    page_errors: list[str],
    tmp_path: Path,
) -> None:
    page = open_dashboard(new_page, live_server, world)
    with page.expect_download() as info:
        page.click("#report-link")
    path = tmp_path / "report.html"
    info.value.save_as(path)
    offline = new_page(width=1100)
    requested: list[str] = []

    def block(route: Any) -> None:
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            requested.append(route.request.url)
            route.abort()

    offline.route("**/*", block)
    offline.goto(path.as_uri())
    offline.wait_for_selector("body[data-charts-ready]", timeout=30_000)
    plots = offline.evaluate(
        """() => Array.from(document.querySelectorAll('.plot')).map(d =>
             [d.id, !!d.querySelector('.main-svg'), (d.data || []).length])"""
    )
    assert len(plots) >= 8
    assert all(svg and n > 0 for _id, svg, n in plots), plots
    assert requested == []
    # Print layout: the charts are resized to the page and nothing is cut off.
    offline.emulate_media(media="print")
    offline.evaluate("() => window.dispatchEvent(new Event('beforeprint'))")
    width = offline.evaluate(
        "() => document.getElementById('plot-ranking').querySelector('.main-svg').getBoundingClientRect().width"
    )
    assert width <= 700
    pdf = offline.pdf(format="A4")
    assert pdf[:4] == b"%PDF"
    assert page_errors == []
