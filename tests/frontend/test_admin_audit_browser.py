"""The audit page and the deputy import in Chromium: the verify button reports the chain, a
backup downloads, a spreadsheet of deputies becomes printable cards, and none of these pages
scrolls sideways at 360 px."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select

from service import audit
from service.models import Role, User
from tests.conftest import SECRETS
from tests.factories import make_user
from tests.frontend.test_admin_browser import OVERFLOW, _log_in

pytestmark = pytest.mark.browser


def _long_entries(session: Session) -> None:
    """Entries with long unbroken text, the kind that would widen a table."""
    for i in range(3):
        audit.record(
            session,
            actor="boss",
            action="campaign.update",
            target="x" * 120,
            fields=["title", "closes_at"] * 6,
            note="长" * 80 + str(i),
        )
    session.commit()


def test_verify_backup_and_import_at_desktop_and_phone(
    new_page: Callable[..., Any],
    live_server: str,
    session: Session,
    page_errors: list[str],
    tmp_path: Path,
) -> None:
    make_user(session, Role.admin, "boss")
    _long_entries(session)
    page = new_page(width=1280)
    _log_in(page, live_server, "boss")
    page.wait_for_url(f"{live_server}/admin")
    page.click('.console-nav a[href="/admin/audit"]')
    page.wait_for_url("**/admin/audit")
    assert page.locator("tr[id^=entry-]").count() >= 3

    page.click('[data-testid="verify"]')
    page.wait_for_selector('[data-testid="verify-result"]')
    result = page.locator('[data-testid="verify-result"]').inner_text()
    assert re.fullmatch(r"审计链完整：已核验 \d+ 条记录。", result), result

    with page.expect_download() as info:
        page.click('[data-testid="backup"]')
    saved = tmp_path / "backup.bin"
    info.value.save_as(saved)
    assert info.value.suggested_filename.startswith("minyi-backup-")
    assert saved.stat().st_size > 0

    # Deputies from a spreadsheet: preview, confirm, one card each.
    page.goto(f"{live_server}/admin/users")
    page.click('[data-testid="import-link"]')
    page.wait_for_url("**/admin/users/import")
    sheet = tmp_path / "deputies.csv"
    sheet.write_text("username,display_name\nwang.li,王丽\nzhang.wei,张伟\n", encoding="utf-8")
    page.set_input_files('input[name="file"]', str(sheet))
    page.click('form[action="/admin/users/import"] button[type=submit]')
    page.wait_for_selector('[data-testid="import-confirm"]')
    page.click('[data-testid="import-confirm"]')
    page.wait_for_selector('[data-testid="initial-password"]')
    passwords = page.locator('[data-testid="initial-password"]').all_inner_texts()
    SECRETS.update(passwords)
    assert len(passwords) == 2
    session.expire_all()
    names = set(session.exec(select(User.username)))
    assert {"wang.li", "zhang.wei"} <= names

    phone = new_page(width=360, height=740)
    _log_in(phone, live_server, "boss")
    phone.wait_for_url(f"{live_server}/admin")
    for path in ("/admin/audit", "/admin/audit?lang=en", "/admin/users/import"):
        phone.goto(f"{live_server}{path}")
        assert phone.evaluate(OVERFLOW) <= 0, path
    phone.goto(f"{live_server}/admin/audit")
    phone.click('[data-testid="verify"]')
    phone.wait_for_selector('[data-testid="verify-result"]')
    assert phone.evaluate(OVERFLOW) <= 0
    # A preview with a bad row, and the printable cards, at 360 px.
    phone.goto(f"{live_server}/admin/users/import")
    bad = tmp_path / "bad.csv"
    bad.write_text("username,display_name\nwang.li,王丽\nzhou,周\n", encoding="utf-8")
    phone.set_input_files('input[name="file"]', str(bad))
    phone.click('form[action="/admin/users/import"] button[type=submit]')
    phone.wait_for_selector('[data-testid="import-bad"]')
    assert phone.evaluate(OVERFLOW) <= 0
    good = tmp_path / "good.csv"
    good.write_text("username,display_name\nzhou,周代表\n", encoding="utf-8")
    phone.set_input_files('input[name="file"]', str(good))
    phone.click('form[action="/admin/users/import"] button[type=submit]')
    phone.click('[data-testid="import-confirm"]')
    phone.wait_for_selector('[data-testid="initial-password"]')
    SECRETS.update(phone.locator('[data-testid="initial-password"]').all_inner_texts())
    assert phone.evaluate(OVERFLOW) <= 0
    # Expected: the refused preview's 422, and the site's missing favicon.
    unexpected = [e for e in page_errors if "422" not in e and "404" not in e]
    assert unexpected == [], unexpected
