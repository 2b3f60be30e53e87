"""In Chromium: an admin builds a small unit tree on /admin/units, edits and deactivates a unit,
imports a spreadsheet through its preview, and none of the units pages scrolls sideways at
360 px."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from sqlmodel import Session, select

from service.auth import SESSION_COOKIE
from service.models import Role, User
from surveys.units.models import Unit
from tests.factories import make_user
from tests.frontend.test_admin_browser import OVERFLOW
from tests.frontend.test_admin_proposals import cookie_for
from tests.surveys.test_units_admin import BAD_ROWS, csv_bytes

pytestmark = pytest.mark.browser


def _signed_in(app: FastAPI, page: Any, base: str, admin: User) -> None:
    page.context.add_cookies(
        [{"name": SESSION_COOKIE, "value": cookie_for(app, admin), "url": base}]
    )


def _create(page: Any, code: str, name: str, kind: str, parent: str = "") -> None:
    form = page.locator('form[action="/admin/units"]')
    form.locator('input[name="code"]').fill(code)
    form.locator('input[name="name"]').fill(name)
    form.locator('select[name="kind"]').select_option(kind)
    form.locator('select[name="parent_code"]').select_option(parent)
    form.locator("button[type=submit]").click()


def _upload(page: Any, name: str, data: bytes) -> None:
    form = page.locator('form[action="/admin/units/import"]')
    form.locator('input[type="file"]').set_input_files(
        files=[{"name": name, "mimeType": "text/csv", "buffer": data}]
    )
    form.locator("button[type=submit]").click()
    page.wait_for_selector("#import-verdict")


def test_admin_builds_edits_and_imports_a_unit_tree(
    app: FastAPI, live_server: str, new_page: Callable[..., Any], page_errors: list[str]
) -> None:
    with Session(app.state.engine, expire_on_commit=False) as s:
        admin = make_user(s, Role.admin, "boss")
    page = new_page(width=1280)
    _signed_in(app, page, live_server, admin)
    page.goto(f"{live_server}/admin/units?lang=zh-CN")
    assert page.locator("h1").inner_text() == "单位"
    _create(page, "district", "示范区", "district")
    page.wait_for_selector("p.notice")
    _create(page, "street-a", "建设街道", "street", "district")
    page.wait_for_selector('li[data-code="street-a"]')
    # A refused form: the error beside the field, the input kept.
    form = page.locator('form[action="/admin/units"]')
    form.locator('input[name="code"]').fill("comm-a1")
    form.locator('input[name="name"]').fill("幸福社区")
    form.locator('select[name="parent_code"]').select_option("street-a")
    form.locator("button[type=submit]").click()
    page.wait_for_selector("#err-kind")
    assert page.locator("#err-kind").inner_text() == "请选择单位类型。"
    assert page.input_value('form[action="/admin/units"] input[name="name"]') == "幸福社区"
    page.select_option('form[action="/admin/units"] select[name="kind"]', "community")
    page.click('form[action="/admin/units"] button[type=submit]')
    page.wait_for_selector('li[data-code="comm-a1"]')
    # The community sits inside the street's folding level, which folds.
    inner = page.locator('li[data-code="street-a"] details.unit-children')
    assert inner.locator('li[data-code="comm-a1"]').is_visible()
    inner.locator("summary").click()
    assert not inner.locator('li[data-code="comm-a1"]').is_visible()
    inner.locator("summary").click()

    # Edit: a new name; a parent below the unit is not even offered.
    page.click('li[data-code="street-a"] > .unit-row a.button')
    page.wait_for_url("**/admin/units/*")
    options = page.locator('select[name="parent_code"] option').all_inner_texts()
    assert not any("comm-a1" in o for o in options)
    page.fill('input[name="name"]', "建设路街道")
    page.click("form.form-grid button[type=submit]")
    page.wait_for_selector("p.notice")
    assert "建设路街道" in page.locator('li[data-code="street-a"] .unit-name').first.inner_text()
    page.locator('li[data-code="comm-a1"] form button[type=submit]').click()
    page.wait_for_selector('li[data-code="comm-a1"][data-active="0"]')
    assert "已停用" in page.locator('li[data-code="comm-a1"] .unit-row').inner_text()

    # Import: a bad file names its rows and writes nothing; a good one is written on confirm.
    _upload(page, "bad.csv", csv_bytes(BAD_ROWS))
    assert page.locator("tr.bad").count() == 6  # row 5 is fine here: no dept-civil yet
    assert page.locator("#err-7-parent_code").inner_text().startswith("上级关系形成循环")
    phone = new_page(width=360, height=740)
    _signed_in(app, phone, live_server, admin)
    rows = [
        ["comm-a2", "和谐社区", "Hexie", "community", "street-a"],
        ["dept-civil", "民政局", "Civil Affairs Bureau", "department", "district"],
    ]
    phone.goto(f"{live_server}/admin/units?lang=zh-CN")
    _upload(phone, "good.csv", csv_bytes(rows))
    assert phone.evaluate(OVERFLOW) <= 0
    page.goto(f"{live_server}/admin/units?lang=zh-CN")
    assert page.locator('li[data-code="comm-a2"]').count() == 0
    phone.click('form[action="/admin/units/import/confirm"] button[type=submit]')
    phone.wait_for_selector("p.notice")
    assert phone.locator("p.notice").inner_text() == "已导入 2 个单位。"
    with Session(app.state.engine) as s:
        assert len(s.exec(select(Unit)).all()) == 5

    # Nothing scrolls sideways at 360 px: the tree, an edit form, a preview full of errors.
    street = phone.locator('li[data-code="street-a"]').get_attribute("id") or ""
    for path in ("/admin/units", f"/admin/units/{street.removeprefix('unit-')}"):
        phone.goto(f"{live_server}{path}?lang=zh-CN")
        assert phone.evaluate(OVERFLOW) <= 0, path
    phone.goto(f"{live_server}/admin/units?lang=zh-CN")
    _upload(phone, "bad.csv", csv_bytes(BAD_ROWS))
    assert phone.evaluate(OVERFLOW) <= 0
    # Expected: the refused form's 422.
    assert [e for e in page_errors if "422" not in e] == []
