"""The questionnaire builder in Chromium: build three question types with a condition, reorder,
watch the preview follow, save, reload; a refused save marks its question; no sideways scroll at
360 px."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlmodel import Session, col, select

from service.models import Role
from surveys.forms.models import Question, Survey
from tests.factories import make_user
from tests.frontend.test_admin_browser import OVERFLOW, _log_in

pytestmark = pytest.mark.browser


def _add(page: Any, kind: str, label: str) -> str:
    """Add a question of the type; returns the selector of its card."""
    page.select_option("#add-type", kind)
    page.click("#add-question")
    card = f"#bq-{page.locator('.bq').count() - 1}"
    page.fill(f"{card} input[name=b-label]", label)
    return card


def _preview_keys(page: Any) -> list[str]:
    keys: list[str] = page.eval_on_selector_all(
        "#preview fieldset.q[data-key]", "els => els.map(e => e.dataset.key)"
    )
    return keys


def test_build_reorder_condition_preview_save_and_reload(
    new_page: Callable[..., Any],
    live_server: str,
    session: Session,
    page_errors: list[str],
) -> None:
    make_user(session, Role.admin, "boss")
    page = new_page(width=1280)
    _log_in(page, live_server, "boss")
    page.wait_for_url(f"{live_server}/admin")
    page.goto(f"{live_server}/admin/surveys")
    page.click("#new-survey")
    page.wait_for_url("**/admin/surveys/new")
    assert page.locator("#builder").is_visible() and page.locator("#outline").count() == 0
    page.fill('input[name="title"]', "窗口服务评价")
    page.fill('input[name="title_en"]', "Service window review")

    rating = _add(page, "rating", "总体满意度")
    page.fill(f"{rating} input[name=b-dimension]", "attitude")
    choice = _add(page, "single_choice", "办理渠道")
    page.fill(f"{choice} input[name=b-key]", "channel")
    page.fill(f"{choice} .option-row input[data-option=value]", "hall")
    page.fill(f"{choice} .option-row input[data-option=label]", "大厅")
    page.click(f"{choice} .add-option")
    second = f"{choice} .option-row:nth-child(2)"
    page.fill(f"{second} input[data-option=value]", "online")
    page.fill(f"{second} input[data-option=label]", "网上")
    text = _add(page, "text", "网上办理哪里不方便？")
    page.fill(f"{text} input[name=b-key]", "why")
    page.check(f"{text} .cond-toggle")
    page.select_option(f"{text} .cond-key", "channel")
    page.select_option(f"{text} .cond-value", "online")

    # The preview is the resident form's markup, following every edit.
    page.wait_for_selector("#preview #q-why .hint.cond >> nth=0")
    page.wait_for_selector('#preview input[name="a.channel"][value="online"]', state="attached")
    assert _preview_keys(page) == ["q1", "channel", "why"]
    assert page.locator("#preview #q-q1 .pick").count() == 5
    assert "网上" in page.locator("#preview #q-channel").inner_text()

    # Move the rating question down: the cards and the preview follow.
    page.click("#bq-0 .move-down")
    assert page.input_value("#bq-0 input[name=b-key]") == "channel"
    page.wait_for_selector('#preview fieldset.q:first-child[data-key="channel"]')
    assert _preview_keys(page) == ["channel", "q1", "why"]

    page.click("#save")
    page.wait_for_selector("text=已新建问卷（v1）。")
    survey = session.exec(select(Survey)).one()
    stored = session.exec(
        select(Question).where(Question.survey_id == survey.id).order_by(col(Question.position))
    ).all()
    assert [(q.key, q.type) for q in stored] == [
        ("channel", "single_choice"),
        ("q1", "rating"),
        ("why", "text"),
    ]
    assert stored[1].dimension == "attitude"
    assert stored[2].show_if == {"key": "channel", "op": "eq", "value": "online"}

    page.reload()
    assert page.input_value("#bq-2 input[name=b-key]") == "why"
    assert page.locator("#bq-2 .cond-toggle").is_checked()
    assert page.input_value("#bq-2 .cond-value") == "online"
    assert _preview_keys(page) == ["channel", "q1", "why"]

    # A refused save names the question beside its card and keeps the edit.
    page.fill("#bq-1 input[name=b-label]", "")
    page.fill("#bq-1 input[name=b-scale_max]", "20")
    page.click("#save")
    page.wait_for_selector("#err-question-1")
    assert page.locator("#err-question-1").inner_text().startswith("请填写中文题目")
    assert page.locator("#bq-1").get_attribute("aria-describedby") == "err-question-1"
    assert page.input_value("#bq-1 input[name=b-scale_max]") == "20"

    # Without JavaScript the definition is there to read and the upload form to use.
    plain = new_page(width=1280, java_script_enabled=False)
    _log_in(plain, live_server, "boss")
    plain.wait_for_url(f"{live_server}/admin")
    plain.goto(f"{live_server}/admin/surveys/{survey.id}")
    assert plain.locator("#outline li").count() == 3
    assert '"key": "why"' in plain.input_value("#definition")
    plain.goto(f"{live_server}/admin/surveys")
    assert plain.locator('form[action="/admin/surveys/import"] input[type=file]').count() == 1

    phone = new_page(width=360, height=740)
    _log_in(phone, live_server, "boss")
    phone.wait_for_url(f"{live_server}/admin")
    for path in (
        "/admin/surveys",
        "/admin/surveys/new",
        f"/admin/surveys/{survey.id}",
        f"/admin/surveys/{survey.id}?lang=en",
    ):
        phone.goto(f"{live_server}{path}")
        phone.wait_for_load_state("networkidle")
        assert phone.evaluate(OVERFLOW) <= 0, path
    # Expected: the refused save's 422, and the site's missing favicon.
    unexpected = [e for e in page_errors if "422" not in e and "404" not in e]
    assert unexpected == [], unexpected
