"""The result announcement (公告): its numbers read back from the page, its visibility (public
once published, an admin's preview once closed), English, and a run-off's rounds in it."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from service.localtime import local_time
from surveys.voting.models import VotingSession
from tests.surveys.voting.conftest import Electorate
from tests.surveys.voting.factories import act, vote
from tests.surveys.voting.test_runoff import tied_session

API = "/api/v1/voting-sessions"


def _text(html: str, element_id: str) -> str:
    """The text of the element with this id, tags removed and spaces collapsed."""
    m = re.search(rf'id="{element_id}"[^>]*>(.*?)</(p|ol|table|div)>', html, re.S)
    assert m, element_id
    return " ".join(re.sub(r"<[^>]+>", " ", m.group(1)).split())


def _decided_runoff(
    client: TestClient, admin: dict[str, str], deputies: Electorate
) -> tuple[int, int, list[int]]:
    sid, ids = tied_session(client, admin, deputies, on_tie="runoff")
    p2, p3 = ids[1], ids[2]
    rid = client.post(f"{API}/{sid}/runoff", headers=admin).json()["id"]
    act(client, admin, rid, "open")
    for i in range(6):
        winner = p3 if i < 4 else p2
        vote(client, deputies.headers[i], rid, {winner: "for", p2 + p3 - winner: "against"})
    act(client, admin, rid, "close")
    return sid, rid, ids


def test_notice_is_an_admin_preview_when_closed_and_public_once_published(
    client: TestClient, session: Session, admin: dict[str, str], deputies: Electorate
) -> None:
    sid, rid, (p1, p2, p3, p4) = _decided_runoff(client, admin, deputies)
    url = f"/voting-sessions/{sid}/notice"
    r = client.get(url)
    assert r.status_code == 409 and r.headers["content-type"].startswith("text/html")
    assert "公布后" in r.text and "项目1" not in r.text
    assert client.get(url, headers=deputies.headers[0]).status_code == 409
    r = client.get(url, headers=admin)
    assert r.status_code == 200 and "预览" in r.text and r.headers["cache-control"] == "no-store"
    assert client.get("/voting-sessions/999999/notice").status_code == 404

    act(client, admin, sid, "publish")
    r = client.get(url)
    assert r.status_code == 200 and "预览" not in r.text
    html = r.text
    vs = session.exec(select(VotingSession).where(VotingSession.id == sid)).one()
    session.refresh(vs)
    # The heading falls back to the vote's title; the first announcement of the year is No. 1.
    assert _text(html, "notice-heading") == vs.title
    assert _text(html, "notice-number") == "（第1号）"
    assert local_time(vs.opened_at, "Asia/Shanghai") in _text(html, "notice-lead")
    assert _text(html, "notice-attendance") == "参加票决的代表共7名。"
    ballots = _text(html, "notice-ballots")
    assert "共收到有效票6张" in ballots and local_time(vs.closed_at, "Asia/Shanghai") in ballots
    # The selected projects, in order, with their votes and budgets in 万元.
    rows = re.findall(
        r'<tr id="notice-project-(\d+)"><td>(\d+)</td><td>([^<]+)</td><td class="num">(\d+)</td>'
        r'<td class="num">(\d+)</td><td class="num">(\d+)</td><td class="num">([\d.,]+)</td>',
        html,
    )
    assert rows == [
        (str(p1), "1", "项目1", "6", "0", "0", "100"),
        (str(p3), "2", "项目3", "5", "0", "1", "80"),
    ]
    assert "合计180万元" in html
    rounds = _text(html, "notice-rounds")
    assert (
        "第2轮" in rounds
        and "项目3赞成4票、反对2票" in rounds
        and "项目2赞成2票、反对4票" in rounds
    )
    assert "入选：项目3" in rounds and "1个名额" in rounds
    assert "项目2" in _text(html, "notice-others") and "项目4" in _text(html, "notice-others")
    assert vs.config_hash and vs.config_hash in _text(html, "notice-hash")
    assert _text(html, "notice-issuer") == "大会主席团"
    assert _text(html, "notice-date").endswith("日")
    assert "http" not in re.sub(r'(href|src)="/[^"]*"', "", html).replace(
        f"http://testserver/results/{sid}", ""
    )  # nothing fetched from elsewhere
    # The run-off's own address leads to its first round's announcement.
    r = client.get(f"/voting-sessions/{rid}/notice", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith(url)


def test_notice_in_english_with_the_congress_name(
    make_app: Callable[..., FastAPI], session: Session
) -> None:
    app = make_app(
        congress_name="和平区第十八届人民代表大会第三次会议", congress_name_en="The Third Session"
    )
    with TestClient(app) as client:
        from service.models import Role
        from tests.factories import headers_for
        from tests.surveys.voting.factories import bearer, make_deputies, make_units

        make_units(session)
        admin = headers_for(client, session, Role.admin, "admin")
        users = make_deputies(session, 7)
        deputies = Electorate([u.username for u in users], [bearer(app, session, u) for u in users])
        sid, rid, ids = _decided_runoff(client, admin, deputies)
        act(client, admin, sid, "publish")
        html = client.get(f"/voting-sessions/{sid}/notice").text
        assert _text(html, "notice-heading") == "和平区第十八届人民代表大会第三次会议"
        assert _text(html, "notice-issuer") == "和平区第十八届人民代表大会第三次会议主席团"
        en = client.get(f"/voting-sessions/{sid}/notice?lang=en").text
        assert _text(en, "notice-heading") == "The Third Session"
        assert _text(en, "notice-issuer") == "The Presidium of The Third Session"
        assert "Round 2" in _text(en, "notice-rounds") and "(No. 1)" in en
        assert "6 valid ballots" in _text(en, "notice-ballots")


# --- the console and the published results page ----------------------------------------------


def test_console_starts_a_runoff_and_the_results_page_shows_the_rounds(
    app: FastAPI, client: TestClient, session: Session, admin: dict[str, str], deputies: Electorate
) -> None:
    from service.models import User
    from tests.frontend.test_admin_proposals import sign_in

    sid, ids = tied_session(client, admin, deputies, on_tie="runoff")
    p1, p2, p3, p4 = ids
    user = session.exec(select(User).where(User.username == "admin")).one()
    csrf = sign_in(app, client, user)
    base = "/admin/voting-sessions"
    page = client.get(f"{base}/{sid}").text
    assert 'data-action="runoff"' in page and 'id="notice-link"' in page
    assert "项目2、项目3" in _text(page, "cut-tie") or "项目3、项目2" in _text(page, "cut-tie")
    assert "剩余名额1个" in _text(page, "cut-tie")
    assert client.get(f"{base}/{sid}/runoff").status_code == 200
    r = client.post(f"{base}/{sid}/runoff", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303 and "?done=runoff" in r.headers["location"]
    rid = int(r.headers["location"].split("/")[-1].split("?")[0])
    again = client.post(f"{base}/{sid}/runoff", data={"csrf_token": csrf})
    assert again.status_code == 409 and "已经有再次投票" in again.text
    page = client.get(f"{base}/{rid}").text
    assert 'id="runoff-of">' in page and f'<a href="/admin/voting-sessions/{sid}">' in page
    assert "不再适用通过门槛" in _text(page, "rule-preview")
    first = client.get(f"{base}/{sid}").text
    assert 'id="blocking-round"' in first and 'data-action="runoff"' not in first
    refused = client.post(f"{base}/{sid}/publish", data={"csrf_token": csrf})
    assert refused.status_code == 409 and "再次投票尚未结束" in refused.text

    act(client, admin, rid, "open")
    for i in range(5):
        vote(client, deputies.headers[i], rid, {p2: "for", p3: "against"})
    act(client, admin, rid, "close")
    first = client.get(f"{base}/{sid}").text
    assert 'data-action="publish"' in first
    r = client.post(f"{base}/{sid}/publish", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303

    html = client.get(f"/results/{sid}").text
    assert f'href="/voting-sessions/{sid}/notice' in html
    assert "第2轮：1个名额" in html and 'id="rounds"' in html
    row = re.search(
        r"<tr><td>项目2</td><td>(\d+)</td><td>(\d+)</td><td>(\d+)</td><td>是</td></tr>", html
    )
    assert row and row.groups() == ("5", "0", "0")
    assert 'id="attendance"' not in html  # a remote vote: no sign-in, no paper


def test_console_form_sets_the_tie_policy(
    app: FastAPI, client: TestClient, session: Session, admin: dict[str, str], deputies: Electorate
) -> None:
    from service.models import User
    from tests.frontend.test_admin_proposals import sign_in
    from tests.surveys.voting.factories import create_projects

    ids = create_projects(client, admin, [100, 200])
    user = session.exec(select(User).where(User.username == "admin")).one()
    csrf = sign_in(app, client, user)
    assert 'name="on_tie"' in client.get("/admin/voting-sessions/new").text
    data = {
        "csrf_token": csrf,
        "kind": "selection",
        "title": "票决",
        "title_en": "",
        "year": "2027",
        "budget_cap": "1000",
        "threshold_kind": "majority_of_all",
        "threshold_value": "",
        "max_selected": "1",
        "max_for_per_ballot": "",
        "on_no_fit": "skip",
        "on_tie": "runoff",
        "project_ids": [str(i) for i in ids],
    }
    r = client.post("/admin/voting-sessions", data=data, follow_redirects=False)
    assert r.status_code == 303, r.text
    sid = int(r.headers["location"].split("/")[-1].split("?")[0])
    assert client.get(f"{API}/{sid}").json()["on_tie"] == "runoff"
    edit = client.get(f"/admin/voting-sessions/{sid}/edit").text
    assert re.search(r'<option value="runoff" selected>', edit)


def test_hall_notice_states_attendance_and_the_runoff_opens_on_carried_attendance(
    client: TestClient, admin: dict[str, str], deputies: Electorate
) -> None:
    """A hall vote: six of seven deputies sign in (quorum 2/3: five), the tie goes to a run-off
    that opens without a new sign-in, and the announcement states 应到 / 实到 and the quorum."""
    from tests.surveys.voting.factories import create_projects, create_session, session_payload

    ids = create_projects(client, admin, [1_000_000, 1_500_000, 800_000])
    p1, p2, p3 = ids
    payload = session_payload(ids, deputies.names, max_selected=2, on_tie="runoff", mode="hall")
    sid = create_session(client, admin, payload)
    cards = {
        c["username"]: c["code"]
        for c in client.post(f"{API}/{sid}/seat-cards", headers=admin).json()
    }
    for name in deputies.names[:6]:
        r = client.post(f"{API}/{sid}/attendance", json={"username": name}, headers=admin)
        assert r.status_code in (200, 201), r.text
    act(client, admin, sid, "open")
    for i in range(6):  # P1 6, P2 and P3 4 each: tied for the second place
        second = {p2: "for", p3: "against"} if i % 2 else {p2: "against", p3: "for"}
        vote(
            client,
            deputies.headers[i],
            sid,
            {p1: "for", **second} if i < 4 else {p1: "for", p2: "for", p3: "for"},
        )
    act(client, admin, sid, "close")
    rid = client.post(f"{API}/{sid}/runoff", headers=admin).json()["id"]
    act(client, admin, rid, "open")  # the quorum holds on the carried attendance
    for i in range(6):
        pick = {p2: "for", p3: "against"} if i < 2 else {p2: "against", p3: "for"}
        if i < 2:  # the first round's seat cards vote in its run-off, in the same sitting
            choices = {str(p): c for p, c in pick.items()}
            body = {"code": cards[deputies.names[i]], "choices": choices}
            assert client.post(f"{API}/{rid}/card/ballots", json=body).status_code == 201
        else:
            vote(client, deputies.headers[i], rid, pick)
    act(client, admin, rid, "close")
    act(client, admin, sid, "publish")

    html = client.get(f"/voting-sessions/{sid}/notice").text
    assert _text(html, "notice-attendance") == (
        "会议应到代表7名，实到代表6名，缺席1名，"
        "实到代表达到应到代表的三分之二（5名）以上，符合法定人数。"
    )
    assert "有效票6张" in _text(html, "notice-ballots")
    assert "电子表决6张、纸质选票0张" in _text(html, "notice-ballots")
    assert "项目3赞成4票、反对2票" in _text(html, "notice-rounds")
    results = client.get(f"/results/{sid}").text
    assert "应到代表7名，实到代表6名，缺席1名。" in _text(results, "attendance-line")
    assert "实到代表达到法定人数（应到的三分之二，至少5名）" in _text(results, "attendance-line")
    en = client.get(f"/voting-sessions/{sid}/notice?lang=en").text
    assert "Of 7 deputies seated, 6 were present" in _text(en, "notice-attendance")
    assert "at least 2/3 of the seated (5)" in _text(en, "notice-attendance")


@pytest.mark.browser
def test_notice_in_chromium_at_360px_passes_axe_and_prints_alone(
    client: TestClient,
    admin: dict[str, str],
    deputies: Electorate,
    new_page: Callable[..., Any],
    live_server: str,
    page_errors: list[str],
) -> None:
    from tests.frontend.axe import describe, violations

    sid, rid, ids = _decided_runoff(client, admin, deputies)
    act(client, admin, sid, "publish")
    for lang in ("zh-CN", "en"):
        page = new_page(width=360, height=800)
        page.goto(f"{live_server}/voting-sessions/{sid}/notice?lang={lang}")
        page.wait_for_selector("#notice-selected")
        found = violations(page)
        assert not found, describe(found)
        wide = page.evaluate("document.scrollingElement.scrollWidth > window.innerWidth")
        assert not wide, f"horizontal scroll at 360 px ({lang})"
        page.emulate_media(media="print")
        assert not page.locator("header.topbar").is_visible()
        assert page.locator("#notice-heading").is_visible()
        red = page.eval_on_selector("#notice-heading", "e => getComputedStyle(e).color")
        assert red == "rgb(204, 0, 0)"
    assert not page_errors
