"""A mistyped invitation code in Chromium, with and without JavaScript: shown at its field."""

# ruff: noqa: F811  (pytest fixtures imported from tests/surveys/forms/fixtures.py)

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.frontend.test_invitation_code import _invitation_campaign
from tests.frontend.test_survey_browser import _fill
from tests.surveys.forms.fixtures import World, admin, world  # noqa: F401 (fixtures used here)

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("js", [True, False])
def test_wrong_code_shown_at_its_field_in_the_browser(
    new_page: Callable[..., Any],
    live_server: str,
    client: TestClient,
    world: World,
    page_errors: list[str],
    js: bool,
) -> None:
    cid, code = _invitation_campaign(client, world)
    page = new_page(width=360, java_script_enabled=js)
    page.goto(f"{live_server}/s/{cid}?lang=zh-CN")
    page.fill('input[name="code"]', "WXYZ-WXYZ-WXYZ")
    page.click("button[type=submit]")
    page.wait_for_selector("#err-code")
    assert page.locator("#err-code").inner_text() == "邀请码无效，请核对后重新输入"
    assert page.input_value('input[name="code"]') == "WXYZ-WXYZ-WXYZ"
    page.fill('input[name="code"]', code)
    page.click("button[type=submit]")
    page.wait_for_selector("#survey")
    _fill(page)
    # The code was mistyped on the form itself: the error is shown there, answers kept.
    page.fill('input[name="invitation_code"]', "WXYZ-WXYZ-WXYZ")
    page.click("#survey button[type=submit]")
    page.wait_for_selector("#err-invitation_code:not([hidden])")
    assert page.locator("#err-invitation_code").inner_text() == "邀请码无效，请核对后重新输入"
    assert "has-error" in (page.locator("#q-invitation_code").get_attribute("class") or "")
    assert page.locator('input[name="a.attitude"][value="5"]').is_checked()
    page.fill('input[name="invitation_code"]', code)
    page.click("#survey button[type=submit]")
    page.wait_for_url(f"**/s/{cid}/thanks**")
    assert not [e for e in page_errors if "422" not in e]
