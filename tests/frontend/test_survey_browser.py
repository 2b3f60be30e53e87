"""The survey in Chromium at 360 px and 1280 px, with and without JavaScript."""

# ruff: noqa: F811  (pytest fixtures imported from tests/surveys/forms/fixtures.py)

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from sqlmodel import Session, select

from surveys.forms.models import Answer, SurveyResponse
from tests.surveys.forms.fixtures import World, admin, world  # noqa: F401 (fixtures used here)

pytestmark = pytest.mark.browser


OVERFLOW = "document.documentElement.scrollWidth > document.documentElement.clientWidth"


def _fill(page: Any) -> None:
    """Answer the questionnaire by tapping labels, as a resident would."""
    for key, value in (
        ("attitude", "5"),
        ("efficiency", "4"),
        ("transparency", "4"),
        ("integrity", "5"),
        ("results", "3"),
        ("recommend", "9"),
        ("channel", "online"),
    ):
        page.locator(f'label:has(input[name="a.{key}"][value="{value}"])').click()
    if page.locator("#q-online_issue").is_visible():
        page.locator('label:has(input[name="a.online_issue"][value="slow"])').click()
    page.fill('textarea[name="comment"]', "窗口工作人员态度很好，耐心解答")


def _stored(session: Session) -> list[SurveyResponse]:
    session.expire_all()
    return list(session.exec(select(SurveyResponse)))


def _wait_for(cond: Callable[[], bool], seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("width", [360, 1280])
@pytest.mark.parametrize("js", [True, False], ids=["js", "nojs"])
def test_fill_and_submit(
    new_page: Callable[..., Any],
    live_server: str,
    world: World,
    session: Session,
    page_errors: list[str],
    width: int,
    js: bool,
) -> None:
    page = new_page(width=width, height=800, java_script_enabled=js)
    page.goto(f"{live_server}/s/{world.campaign_id}?lang=zh-CN")
    assert not page.evaluate(OVERFLOW), "unit chooser scrolls sideways"
    page.locator("a.unit-link", has_text="民政局").click()
    page.wait_for_selector("#survey")
    assert not page.evaluate(OVERFLOW), "survey scrolls sideways"
    # Tap targets: every answer box at least 44 px high and wide.
    for box in page.locator(".pick span, .choice span, button.submit").all():
        b = box.bounding_box()
        if b is not None:
            assert b["height"] >= 44 and b["width"] >= 44, b
    if js:
        assert not page.locator("#q-online_issue").is_visible()  # shown only for "online"
    _fill(page)
    if js:
        assert page.locator("#q-online_issue").is_visible()
    page.locator("button.submit").click()
    page.wait_for_selector("#thanks", timeout=15000)
    assert "提交成功" in page.content()
    assert not page.evaluate(OVERFLOW), "thank-you page scrolls sideways"
    rows = _stored(session)
    assert len(rows) == 1 and rows[0].unit_id == 5
    assert rows[0].comment == "窗口工作人员态度很好，耐心解答"
    answers = {
        a.question_key: (a.value_num, a.value_text)
        for a in session.exec(select(Answer).where(Answer.response_id == rows[0].id))
    }
    assert answers["attitude"] == (5.0, None) and answers["recommend"] == (9.0, None)
    assert answers["online_issue"] == (None, "slow")
    assert page_errors == []


def test_english_and_errors_keep_input_without_js(
    new_page: Callable[..., Any], live_server: str, world: World, session: Session
) -> None:
    page = new_page(width=360, java_script_enabled=False)
    page.goto(f"{live_server}/s/{world.campaign_id}?unit=dept-hrss&lang=en")
    assert "Your rating of" in page.content()
    page.locator('label:has(input[name="a.attitude"][value="2"])').click()
    page.fill('textarea[name="comment"]', "Queue too long")
    # Skip the browser's own check to see the server's friendly errors.
    page.evaluate("document.getElementById('survey').noValidate = true")
    page.locator("button.submit").click()
    page.wait_for_selector("#form-errors")
    assert "Please answer this question" in page.content()
    assert page.locator('input[name="a.attitude"][value="2"]').is_checked()
    assert page.input_value('textarea[name="comment"]') == "Queue too long"
    assert _stored(session) == []


def test_unsent_response_survives_a_dropped_connection(
    new_page: Callable[..., Any],
    live_server: str,
    world: World,
    session: Session,
    page_errors: list[str],
) -> None:
    page = new_page(width=360)
    page.goto(f"{live_server}/s/{world.campaign_id}?unit=win-social&lang=zh-CN")
    _fill(page)
    page.context.set_offline(True)
    page.locator("button.submit").click()
    # (wait_for_function would evaluate a string, which the page's CSP forbids)
    page.wait_for_selector("#survey-status:not([hidden])")
    assert "保存在本机" in page.locator("#survey-status").inner_text()
    kept = page.evaluate("JSON.parse(localStorage.getItem('minyi:pending'))")
    assert len(kept) == 1 and kept[0]["body"]["unit_code"] == "win-social"
    submission_id = kept[0]["body"]["submission_id"]
    assert _stored(session) == []
    page.context.set_offline(False)
    page.wait_for_selector("#thanks", timeout=40000)
    assert _wait_for(lambda: len(_stored(session)) == 1)
    assert page.evaluate("JSON.parse(localStorage.getItem('minyi:pending'))") == []
    # Sent once more by hand with the same submission id: still one response.
    again = page.evaluate(
        """async (body) => (await fetch(body.api, {method: 'POST',
             headers: {'Content-Type': 'application/json'}, body: JSON.stringify(body.body)})).status""",
        kept[0],
    )
    assert again == 201 and len(_stored(session)) == 1
    assert submission_id
    assert [e for e in page_errors if "ERR_INTERNET_DISCONNECTED" not in e] == []


def test_kept_response_is_sent_on_the_next_visit(
    new_page: Callable[..., Any], live_server: str, world: World, session: Session
) -> None:
    page = new_page(width=360)
    page.goto(f"{live_server}/s/{world.campaign_id}?lang=zh-CN")
    body = {
        "campaign": str(world.campaign_id),
        "api": f"/api/v1/campaigns/{world.campaign_id}/responses",
        "thanks": f"/s/{world.campaign_id}/thanks",
        "body": {
            "unit_code": "dept-hrss",
            "answers": {
                "attitude": 3,
                "efficiency": 3,
                "transparency": 3,
                "integrity": 4,
                "results": 2,
            },
            "submission_id": "3f6d2b1e-1111-4222-8333-444455556666",
        },
    }
    page.evaluate("(b) => localStorage.setItem('minyi:pending', JSON.stringify([b]))", body)
    page.reload()
    page.wait_for_selector("#survey-status:not([hidden])")
    assert "已经送达" in page.locator("#survey-status").inner_text()
    assert _wait_for(lambda: len(_stored(session)) == 1)


def test_page_weight_is_under_100_kb(
    new_page: Callable[..., Any], live_server: str, world: World
) -> None:
    page = new_page(width=360)
    sizes: dict[str, int] = {}

    def on_response(response: Any) -> None:
        try:
            sizes[response.url] = len(response.body())
        except Exception:  # redirects have no body
            sizes[response.url] = 0

    page.on("response", on_response)
    page.goto(f"{live_server}/s/{world.campaign_id}?unit=dept-civil", wait_until="networkidle")
    total = sum(sizes.values())
    assert any(u.endswith("/static/js/survey.js") for u in sizes)
    assert total <= 100 * 1024, sizes
