"""axe-core on every page a resident, a deputy, the public and the office see: no serious or
critical violation, in Chinese and English (tests/frontend/axe.py injects axe; the product
never loads it)."""

# ruff: noqa: F811  (pytest fixtures imported from tests/surveys/forms/fixtures.py)

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session

from service.auth import SESSION_COOKIE
from service.models import Role
from tests.conftest import SECRETS
from tests.factories import make_user
from tests.frontend.axe import describe, violations
from tests.frontend.dashboard_factory import build_vote, build_world
from tests.frontend.test_invitation_code import _invitation_campaign
from tests.frontend.test_survey_browser import _fill
from tests.frontend.test_voting_pages import build, cookie_for, finish
from tests.surveys.forms.fixtures import World, admin, world  # noqa: F401 (fixtures used here)

pytestmark = pytest.mark.browser

LANGS = ("zh-CN", "en")
DOWNLOAD = re.compile(r"\.[a-z]+$")  # /admin/audit.csv and the like are files, not pages


def _check(page: Any, where: str, failures: dict[str, str]) -> None:
    found = violations(page)
    if found:
        failures[where] = describe(found)


def _report(failures: dict[str, str]) -> str:
    return "\n".join(f"{where}:\n{text}" for where, text in failures.items())


def _log_in_as(page: Any, base: str, app: FastAPI, user: Any) -> None:
    page.context.add_cookies(
        [{"name": SESSION_COOKIE, "value": cookie_for(app, user), "url": base}]
    )


@pytest.mark.parametrize(("width", "size"), [(360, "standard"), (1280, "standard"), (360, "large")])
def test_resident_pages_pass_axe(
    new_page: Callable[..., Any],
    live_server: str,
    client: TestClient,
    world: World,
    width: int,
    size: str,
) -> None:
    """In the standard and the larger-text mode (its darker colours are checked for contrast)."""
    inv, _code = _invitation_campaign(client, world)
    failures: dict[str, str] = {}
    for lang in LANGS:
        page = new_page(width=width, height=800)
        page.context.add_cookies([{"name": "text_size", "value": size, "url": live_server}])
        for path in ("/", "/login", f"/s/{world.campaign_id}", f"/s/{inv}"):
            page.goto(f"{live_server}{path}?lang={lang}")
            _check(page, f"{path} {lang}", failures)
        page.goto(f"{live_server}/s/{world.campaign_id}?lang={lang}")
        page.locator("a.unit-link").first.click()
        page.wait_for_selector("#survey")
        _check(page, f"form {lang}", failures)
        # A mistyped invitation code: the error is named beside its field.
        page.goto(f"{live_server}/s/{inv}?code=WXYZ-WXYZ-WXYZ&lang={lang}")
        page.wait_for_selector("#err-code")
        _check(page, f"code error {lang}", failures)
        page.goto(f"{live_server}/s/{world.campaign_id}?lang=zh-CN")
        page.locator("a.unit-link", has_text="民政局").click()
        page.wait_for_selector("#survey")
        _fill(page)
        page.click("#survey button[type=submit]")
        page.wait_for_url("**/thanks**")
        page.goto(page.url.replace("lang=zh-CN", f"lang={lang}"))
        _check(page, f"thanks {lang}", failures)
    assert not failures, _report(failures)


def test_deputy_and_public_voting_pages_pass_axe(
    app: FastAPI, new_page: Callable[..., Any], live_server: str
) -> None:
    vw = build(app)
    failures: dict[str, str] = {}
    for deputy, lang in zip(vw.deputies, LANGS, strict=False):
        page = new_page(width=360, height=800)
        _log_in_as(page, live_server, app, deputy)
        page.goto(f"{live_server}/vote/{vw.sid}?lang={lang}")
        _check(page, f"vote {lang}", failures)
        for card in page.locator(".ballot-card").all():
            card.locator(".choice").first.click()
        page.locator("#review").click()
        page.wait_for_selector(".review")
        _check(page, f"vote review {lang}", failures)
        page.locator("#cast").click()
        page.wait_for_selector("#receipt-code")
        SECRETS.add(page.locator("#receipt-code").inner_text().strip())
        _check(page, f"vote receipt {lang}", failures)
    p = vw.project_ids
    finish(app, vw, [{i: "for" for i in p}] * 4, skip=len(LANGS))
    for lang, size in zip(LANGS, ("standard", "large"), strict=True):
        page = new_page(width=1280, height=800)
        page.context.add_cookies([{"name": "text_size", "value": size, "url": live_server}])
        page.goto(f"{live_server}/results/{vw.sid}?lang={lang}")
        page.wait_for_selector("#plot-vote .main-svg", timeout=20_000)
        _check(page, f"results {lang}", failures)
        page.goto(f"{live_server}/projects?lang={lang}")
        page.wait_for_selector("#plot-tracker .main-svg", timeout=20_000)
        _check(page, f"projects {lang}", failures)
    assert not failures, _report(failures)


def test_dashboard_passes_axe(app: FastAPI, new_page: Callable[..., Any], live_server: str) -> None:
    dw = build_world(app.state.engine, app.state.settings, responses=300, comment_share=0.2)
    failures: dict[str, str] = {}
    for lang in LANGS:
        page = new_page(width=1280, height=900)
        cookie = dw.cookies[Role.evaluator]
        page.context.add_cookies(
            [{"name": k, "value": v, "url": live_server} for k, v in cookie.items()]
        )
        page.goto(f"{live_server}/dashboard?lang={lang}")
        page.wait_for_selector("body[data-charts-ready]", timeout=30_000)
        _check(page, f"dashboard {lang}", failures)
    assert not failures, _report(failures)


def test_console_pages_pass_axe(
    app: FastAPI, new_page: Callable[..., Any], live_server: str, session: Session
) -> None:
    """Every page the console's navigation links to, and the first page each of them links
    to further in (a detail page), so pages added later are checked too."""
    build_world(app.state.engine, app.state.settings, responses=60)
    build_vote(app)
    boss = make_user(session, Role.admin, "boss")
    failures: dict[str, str] = {}
    checked: list[str] = []
    for lang in LANGS:
        page = new_page(width=1280, height=900)
        _log_in_as(page, live_server, app, boss)
        page.goto(f"{live_server}/admin?lang={lang}")
        links = page.eval_on_selector_all(
            ".console-nav a[href^='/admin']", "els => els.map(e => e.getAttribute('href'))"
        )
        assert "/admin/users" in links and "/admin/proposals" in links, links
        deeper: list[str] = []
        for href in dict.fromkeys(["/admin", *links]):
            response = page.goto(f"{live_server}{href}")
            if response is None or response.status != 200:
                continue  # a page someone is still building
            _check(page, f"{href} {lang}", failures)
            checked.append(href)
            further = page.eval_on_selector_all(
                ".console-body a[href^='/admin/']", "els => els.map(e => e.getAttribute('href'))"
            )
            pages = [f for f in further if f not in links and f.split("?")[0] != href]
            deeper += [f for f in pages if not DOWNLOAD.search(f.split("?")[0])][:1]
        for href in dict.fromkeys(deeper):
            response = page.goto(f"{live_server}{href}")
            if response is not None and response.status == 200:
                _check(page, f"{href} {lang}", failures)
                checked.append(href)
    assert not failures, _report(failures)
    assert len(checked) >= 2 * 4, checked  # overview, users, proposals, one page further in
