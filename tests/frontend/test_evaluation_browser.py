"""The democratic evaluation in Chromium: a rater at 360 px goes from the code page to the sheet,
grades every subject by tapping, and sends it once; the sheet and the console's subjects and
evaluation pages pass axe in Chinese and English."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session

from service.models import Role
from tests.factories import headers_for, make_user
from tests.frontend.axe import describe, violations
from tests.frontend.test_accessibility_browser import _log_in_as
from tests.surveys.evaluation.factories import codes, create_evaluation, make_subjects
from tests.surveys.forms.factories import make_units

pytestmark = pytest.mark.browser

OVERFLOW = "document.documentElement.scrollWidth > document.documentElement.clientWidth"


def _evaluation(client: TestClient, session: Session) -> tuple[int, list[int], list[str]]:
    make_units(session)
    admin = headers_for(client, session, Role.admin)
    ids = make_subjects(client, admin)
    cid = create_evaluation(client, admin, ids)
    return cid, ids, codes(client, admin, cid, "staff", 2, in_url=True)


def test_rater_grades_every_subject_on_a_phone(
    new_page: Callable[..., Any], live_server: str, client: TestClient, session: Session
) -> None:
    cid, ids, (code, _) = _evaluation(client, session)
    page = new_page(width=360, height=800, java_script_enabled=False)
    page.goto(f"{live_server}/s/{cid}?lang=zh-CN")
    page.fill("#code", code)
    page.locator("button.submit").click()
    page.wait_for_selector("form.survey")
    assert "/evaluation" in page.url
    assert not page.evaluate(OVERFLOW), "the sheet scrolls sideways"
    for box in page.locator(".choice span, button.submit").all()[:12]:
        b = box.bounding_box()
        assert b is not None and b["height"] >= 44, b
    # One item left out: the browser itself holds the sheet back (every row is required).
    grades = ["excellent", "competent", "unknown"]
    for i, sid in enumerate(ids):
        for item in ("de", "neng", "qin", "ji", "lian", "overall"):
            if (sid, item) == (ids[0], "lian"):
                continue
            page.locator(f'label:has(input[name="g.{sid}.{item}"][value="{grades[i]}"])').click()
    page.locator("button.submit").click()
    assert page.locator(".message").count() == 0
    assert not page.locator(f'input[name="g.{ids[0]}.lian"]').first.evaluate(
        "e => e.validity.valid"
    )
    page.locator(f'label:has(input[name="g.{ids[0]}.lian"][value="basic"])').click()
    page.locator("button.submit").click()
    page.wait_for_selector(".message")
    assert "感谢" in page.locator(".message").inner_text()
    page.goto(f"{live_server}/s/{cid}/evaluation?code={code}&lang=zh-CN")
    assert "已" in page.locator(".message").inner_text()  # the code is used


def test_evaluation_pages_pass_axe(
    app: FastAPI,
    new_page: Callable[..., Any],
    live_server: str,
    client: TestClient,
    session: Session,
) -> None:
    cid, ids, (_, code) = _evaluation(client, session)
    boss = make_user(session, Role.admin, "boss")
    failures: dict[str, str] = {}
    for lang in ("zh-CN", "en"):
        page = new_page(width=360, height=800)
        _log_in_as(page, live_server, app, boss)
        for path in (
            f"/s/{cid}/evaluation?code={code}",
            "/admin/subjects",
            f"/admin/subjects/{ids[0]}",
            "/admin/campaigns/new-evaluation",
            f"/admin/campaigns/{cid}",
        ):
            response = page.goto(f"{live_server}{path}{'&' if '?' in path else '?'}lang={lang}")
            assert response is not None and response.status == 200, path
            found = violations(page)
            if found:
                failures[f"{path} {lang}"] = describe(found)
            if path.startswith("/admin"):
                assert not page.evaluate(OVERFLOW), f"{path} scrolls sideways at 360 px"
    assert not failures, "\n".join(f"{k}:\n{v}" for k, v in failures.items())
