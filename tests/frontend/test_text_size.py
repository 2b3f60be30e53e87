"""The larger-text, higher-contrast mode: the header's toggle, remembered in a cookie (the
server draws the page in it) and in localStorage; with JavaScript and without."""

# ruff: noqa: F811  (pytest fixtures imported from tests/surveys/forms/fixtures.py)

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.frontend.axe import describe, violations
from tests.frontend.test_voting_pages import build, finish
from tests.surveys.forms.fixtures import World, admin, world  # noqa: F401 (fixtures used here)

OVERFLOW = "document.documentElement.scrollWidth - document.documentElement.clientWidth"
LARGE = "document.documentElement.classList.contains('large-text')"
ROOT_PX = "parseFloat(getComputedStyle(document.documentElement).fontSize)"


def test_the_link_sets_the_cookie_and_goes_back(client: TestClient, world: World) -> None:
    page = f"/s/{world.campaign_id}?lang=en"
    home = client.get(page)
    assert 'class="large-text"' not in home.text
    assert 'aria-pressed="false"' in home.text and ">Larger text</a>" in home.text
    r = client.get("/text-size", params={"size": "large", "next": page}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == page
    assert "text_size=large" in r.headers["set-cookie"]
    client.cookies.set("text_size", "large")
    again = client.get(page)
    assert '<html lang="en" class="large-text">' in again.text
    assert 'aria-pressed="true"' in again.text and "size=standard" in again.text
    off = client.get(
        "/text-size", params={"size": "standard", "next": page}, follow_redirects=False
    )
    assert "text_size=standard" in off.headers["set-cookie"]
    # Only a path of this site is followed; anything else goes home.
    for target in ("https://evil.example/", "//evil.example/x", "javascript:alert(1)"):
        away = client.get("/text-size", params={"next": target}, follow_redirects=False)
        assert away.headers["location"] == "/", target
    zh = client.get("/?lang=zh-CN")
    assert ">大字模式</a>" in zh.text


@pytest.mark.browser
@pytest.mark.parametrize("js", [True, False], ids=["js", "nojs"])
def test_larger_text_is_remembered_at_360_px(
    new_page: Callable[..., Any],
    live_server: str,
    world: World,
    page_errors: list[str],
    js: bool,
) -> None:
    page = new_page(width=360, height=740, java_script_enabled=js)
    url = f"{live_server}/s/{world.campaign_id}?lang=zh-CN"
    page.goto(url)
    page.locator("a.unit-link").first.click()
    page.wait_for_selector("#survey")
    form_url = page.url
    assert page.evaluate(ROOT_PX) == 16
    toggle = page.locator("a.text-size")
    assert toggle.inner_text() == "大字模式"
    assert toggle.get_attribute("aria-pressed") == "false"
    toggle.click()
    if not js:
        page.wait_for_url(form_url)  # the server set the cookie and sent the reader back
    assert page.evaluate(LARGE)
    assert page.evaluate(ROOT_PX) == 20
    assert page.locator("a.text-size").get_attribute("aria-pressed") == "true"
    assert page.evaluate(OVERFLOW) <= 0, "the larger text scrolls sideways"
    if js:  # axe's promise waits on timers, which never fire with JavaScript off
        found = violations(page)
        assert not found, describe(found)
    # Remembered on the next page, drawn by the server (no JavaScript needed to see it).
    page.goto(f"{live_server}/?lang=zh-CN")
    assert page.evaluate(LARGE)
    assert page.evaluate(OVERFLOW) <= 0
    if js:
        stored = page.evaluate("localStorage.getItem('minyi.textSize')")
        assert stored == "large"
        # A cleared cookie: localStorage brings the mode back.
        page.context.clear_cookies()
        page.reload()
        assert page.evaluate(LARGE)
        assert any(c["name"] == "text_size" for c in page.context.cookies())
    page.locator("a.text-size").click()
    if not js:
        page.wait_for_load_state()
    assert not page.evaluate(LARGE)
    assert page.evaluate(ROOT_PX) == 16
    assert [e for e in page_errors if "404" not in e] == []  # the site has no favicon


@pytest.mark.browser
def test_larger_text_public_pages_fit_360_px(
    app: FastAPI, new_page: Callable[..., Any], live_server: str, page_errors: list[str]
) -> None:
    vw = build(app)
    finish(app, vw, [{i: "for" for i in vw.project_ids}] * 4)
    page = new_page(width=360, height=740)
    page.context.add_cookies([{"name": "text_size", "value": "large", "url": live_server}])
    for lang in ("zh-CN", "en"):
        for path in ("/", "/login", "/projects", f"/results/{vw.sid}"):
            page.goto(f"{live_server}{path}?lang={lang}")
            page.wait_for_load_state("networkidle")
            assert page.evaluate(LARGE), path
            assert page.evaluate(OVERFLOW) <= 0, f"{path} {lang} scrolls sideways"
    assert [e for e in page_errors if "404" not in e] == []  # the site has no favicon
