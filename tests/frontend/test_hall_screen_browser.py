"""In Chromium at the projector's 1920x1080: the big screen (/hall/{id}) shows 应到 / 实到
before opening, follows the ballots without a reload, draws the final counts within 2 s of
the close, survives a network outage without going blank, fits 12 (and 20) candidates with
no scrollbar, and passes axe."""

from __future__ import annotations

import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi import FastAPI
from sqlmodel import Session

from service.models import Role
from surveys.voting.hall_models import Attendance
from tests.conftest import SECRETS
from tests.factories import make_user
from tests.frontend.axe import describe, violations
from tests.surveys.voting.factories import bearer, make_deputies, make_units, project_payload

pytestmark = pytest.mark.browser

W, H = 1920, 1080
API = "/api/v1/voting-sessions"
CHOICES = ("for", "against", "abstain")
# Everything on the page must lie within the projector's frame.
FITS = f"""() => {{
  const d = document.documentElement;
  const out = [...document.querySelectorAll('#hall *')].filter(el => {{
    const r = el.getBoundingClientRect();
    return r.width > 0 && (r.bottom > {H} + 0.5 || r.right > {W} + 0.5 || r.left < -0.5);
  }}).map(el => el.id || el.className || el.tagName);
  return {{sw: d.scrollWidth, sh: d.scrollHeight, cw: d.clientWidth, ch: d.clientHeight, out}};
}}"""


@dataclass
class Hall:
    sid: int
    ids: list[int]
    admin: dict[str, str]
    voters: list[dict[str, str]]


def _build(app: FastAPI, base: str, n_projects: int, n_deputies: int, present: int) -> Hall:
    with Session(app.state.engine, expire_on_commit=False) as s:
        make_units(s)
        admin = bearer(app, s, make_user(s, Role.admin, "admin"))
        deputies = make_deputies(s, n_deputies)
        voters = [bearer(app, s, d) for d in deputies]
    ids = []
    for i in range(n_projects):
        # Long names too: a title wider than its cell is cut, never wraps or overflows.
        title = f"项目{i + 1}" + ("：老旧小区加装电梯与无障碍通道改造工程" if i % 3 == 0 else "")
        payload = project_payload(title=title, title_en=f"Project {i + 1}", budget=300_000 + i)
        r = httpx.post(f"{base}/api/v1/projects", json=payload, headers=admin)
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    body = {
        "title": "2027年区人大代表大会票决民生实事项目",
        "title_en": "2027 livelihood projects: the vote in the hall",
        "year": 2027,
        "project_ids": ids,
        "deputy_usernames": [d.username for d in deputies],
        "budget_cap": 2_000_000,
        "threshold": "majority_of_all",
        "on_no_fit": "skip",
        "mode": "hall",
    }
    r = httpx.post(f"{base}{API}", json=body, headers=admin)
    assert r.status_code == 201, r.text
    sid = int(r.json()["id"])
    with Session(app.state.engine) as s:
        for d in deputies[:present]:
            assert d.id is not None
            s.add(Attendance(session_id=sid, user_id=d.id, signed_in_by="admin"))
        s.commit()
    return Hall(sid, ids, admin, voters)


def _act(base: str, hall: Hall, action: str) -> None:
    body = {"scrutineers": ["监票人甲", "监票人乙"]} if action == "close" else None
    r = httpx.post(f"{base}{API}/{hall.sid}/{action}", json=body, headers=hall.admin, timeout=30)
    assert r.status_code == 200, r.text


def _vote(base: str, hall: Hall, i: int, marks: list[str]) -> None:
    choices = {str(pid): m for pid, m in zip(hall.ids, marks, strict=True)}
    r = httpx.post(
        f"{base}{API}/{hall.sid}/ballots", json={"choices": choices}, headers=hall.voters[i]
    )
    assert r.status_code == 201, r.text
    SECRETS.add(r.json()["receipt"])


def _text(page: Any, selector: str) -> str:
    return str(page.locator(selector).inner_text()).strip()


def _png_size(path: Path) -> tuple[int, int]:
    with path.open("rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def _assert_fits(page: Any, tmp_path: Path, name: str) -> None:
    box = page.evaluate(FITS)
    assert box["sw"] <= box["cw"] and box["sh"] <= box["ch"], box
    assert box["out"] == [], box
    # A full-page screenshot is exactly the frame: nothing below or beside it to scroll to.
    shot = tmp_path / f"{name}.png"
    page.screenshot(path=str(shot), full_page=True)
    assert _png_size(shot) == (W, H)


def _axe(page: Any, where: str, failures: dict[str, str]) -> None:
    found = violations(page)
    if found:
        failures[where] = describe(found)


def test_the_screen_through_a_hall_vote(
    app: FastAPI,
    live_server: str,
    new_page: Callable[..., Any],
    page_errors: list[str],
    tmp_path: Path,
) -> None:
    rng = np.random.default_rng(20)
    hall = _build(app, live_server, n_projects=12, n_deputies=9, present=7)
    failures: dict[str, str] = {}
    page = new_page(width=W, height=H)
    page.goto(f"{live_server}/hall/{hall.sid}")
    # Before opening: 应到 / 实到 and the quorum (ceil(2/3 * 9) = 6, met by 7).
    assert _text(page, "#n-seated") == "9" and _text(page, "#n-present") == "7"
    assert _text(page, "#n-quorum") == "6"
    body = _text(page, "#hall")
    assert "应到" in body and "实到" in body and "法定人数" in body and "已达到法定人数" in body
    _axe(page, "draft", failures)
    _assert_fits(page, tmp_path, "draft")
    # Marks the document: a reload would lose it.
    page.evaluate("() => { window.__sameDocument = true; }")

    _act(live_server, hall, "open")
    page.wait_for_function("() => document.getElementById('n-cast')?.textContent === '0'")
    plan = [[str(c) for c in rng.choice(CHOICES, size=len(hall.ids))] for _ in range(6)]
    for i, marks in enumerate(plan):
        _vote(live_server, hall, i, marks)
        page.wait_for_function(
            f"() => document.getElementById('n-cast')?.textContent === '{i + 1}'", timeout=5000
        )
        assert _text(page, "#n-not-cast") == str(7 - (i + 1))  # present, not voted yet
    assert "已投" in _text(page, "#hall") and "未投" in _text(page, "#hall")
    _axe(page, "open", failures)
    _assert_fits(page, tmp_path, "open")

    _act(live_server, hall, "close")
    closed_at = time.monotonic()
    page.wait_for_selector("#hall-table tbody tr", timeout=2000)
    drawn = time.monotonic() - closed_at
    assert drawn <= 2.0, drawn
    assert page.evaluate("() => window.__sameDocument === true")
    # The counts on screen are those of the ballots cast, recounted here: 未按 = 实到 - marks.
    matrix = np.array(plan)
    for j, pid in enumerate(hall.ids):
        row = page.locator(f"#hall-table tr[data-project='{pid}']")
        shown = [int(row.locator(f"td.c-{c}").inner_text()) for c in CHOICES]
        assert shown == [int((matrix[:, j] == c).sum()) for c in CHOICES], pid
        assert int(row.locator("td.c-not-voted").inner_text()) == 7 - len(plan)
    table = _text(page, "#hall-table")
    for word in ("赞成", "反对", "弃权", "未按", "结果"):
        assert word in table
    foot = _text(page, "#hall-foot")
    assert "应到 9 人，实到 7 人，缺席 2 人，投票 6 人" in foot and "赞成票达到 5 票为通过" in foot
    state = httpx.get(f"{live_server}/api/v1/voting-sessions/{hall.sid}/hall").json()
    assert state["rule"] and _text(page, "#hall-rule") == state["rule"]  # the rule in words
    _axe(page, "closed", failures)
    _assert_fits(page, tmp_path, "closed")

    # A network outage: the last screen stays, a notice shows, and it recovers on its own.
    page.route("**/api/v1/voting-sessions/*/hall", lambda route: route.abort())
    page.wait_for_selector("#hall-offline", state="visible", timeout=5000)
    assert page.locator("#hall-table tbody tr").count() == len(hall.ids)
    page.unroute("**/api/v1/voting-sessions/*/hall")
    page.wait_for_selector("#hall-offline", state="hidden", timeout=8000)
    assert page.locator("#hall-table tbody tr").count() == len(hall.ids)

    # The script's redraw says what the server's first paint says.
    drawn = " ".join(_text(page, "#hall-body").split())
    page.reload()
    assert " ".join(_text(page, "#hall-body").split()) == drawn

    # English only when asked; axe in both languages.
    page.goto(f"{live_server}/hall/{hall.sid}?lang=en")
    assert "For" in _text(page, "#hall-table") and "Not voted" in _text(page, "#hall-table")
    _axe(page, "closed en", failures)
    assert failures == {}, failures
    unexpected = [e for e in page_errors if "ERR_FAILED" not in e and "Failed to fetch" not in e]
    assert unexpected == [], unexpected


def test_twenty_candidates_fit_and_the_page_works_without_javascript(
    app: FastAPI, live_server: str, new_page: Callable[..., Any], tmp_path: Path
) -> None:
    hall = _build(app, live_server, n_projects=20, n_deputies=6, present=6)
    _act(live_server, hall, "open")
    for i in range(4):
        _vote(live_server, hall, i, ["for" if (i + j) % 3 else "against" for j in range(20)])
    # Without JavaScript the server's first paint is the state.
    plain = new_page(width=W, height=H, java_script_enabled=False)
    plain.goto(f"{live_server}/hall/{hall.sid}")
    assert _text(plain, "#n-cast") == "4" and _text(plain, "#n-not-cast") == "2"
    _act(live_server, hall, "close")
    plain.goto(f"{live_server}/hall/{hall.sid}")
    assert plain.locator("#hall-table tbody tr").count() == 20
    page = new_page(width=W, height=H)
    page.goto(f"{live_server}/hall/{hall.sid}")
    assert page.locator("#hall-table tbody tr").count() == 20
    _assert_fits(page, tmp_path, "twenty")
    # The type stays readable from the back: at least 20 px at 1080 rows of pixels.
    size = page.evaluate(
        "() => parseFloat(getComputedStyle(document.querySelector('#hall-table td')).fontSize)"
    )
    assert size >= 20, size
