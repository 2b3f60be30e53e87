"""Votes never outnumber the deputies: sheets handed out by count are capped by 实到 (hall) and
应到 (any session); late arrivals are counted at the close (实到 at opening stays frozen in the
configuration); the screen and the announcement show 未按 (present, not voted), 缺席 and the
invalid paper ballots so that both sums hold; the quorum reads 三分之二."""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from service.models import User
from surveys.voting.models import VotingSession
from surveys.voting.results import recount
from tests.frontend.test_admin_proposals import sign_in
from tests.surveys.voting.conftest import Electorate
from tests.surveys.voting.factories import (
    act,
    create_projects,
    create_session,
    session_payload,
    vote,
)

API = "/api/v1/voting-sessions"
NAMES = ["张监票", "李监票"]


def _present(client: TestClient, admin: dict[str, str], sid: int, names: list[str]) -> None:
    for name in names:
        r = client.post(f"{API}/{sid}/attendance", json={"username": name}, headers=admin)
        assert r.status_code == 201, r.text


def _text(html: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}"[^>]*>(.*?)</(?:p|td|div)>', html, re.S)
    assert match, element_id
    return re.sub(r"<[^>]+>|\s+", "", match.group(1))


def _sums_hold(state: dict[str, Any]) -> None:
    """赞成 + 反对 + 弃权 + 无效 + 未按 = 实到 on every row; 实到 + 缺席 = 应到."""
    assert state["present"] + state["absent"] == state["seated"]
    for row in state["candidates"]:
        total = sum(row["counts"].values()) + (state["invalid"] or 0) + row["not_voted"]
        assert total == state["present"], row


def test_sheets_by_count_never_outnumber_the_deputies_present(
    client: TestClient, admin: dict[str, str], deputies: Electorate
) -> None:
    ids = create_projects(client, admin, [1_000_000])
    payload = session_payload(ids, deputies.names, ballot_method="paper", mode="hall")
    sid = create_session(client, admin, payload)
    _present(client, admin, sid, deputies.names[:5])  # 5 of 7: the 2/3 quorum
    act(client, admin, sid, "open")
    assert client.post(f"{API}/{sid}/paper/sheets", json={"count": 20}, headers=admin).is_success
    r = client.post(f"{API}/{sid}/paper/issue", json={"count": 20}, headers=admin)
    assert r.status_code == 409
    detail = r.json()["detail"]["message"]
    assert r.json()["detail"]["present"] == 5
    assert "超过实到代表 5 人" in detail and "more than the 5 deputies present" in detail
    assert "再发 20 张" in detail and "issued 0 + 20 more" in detail
    assert client.post(f"{API}/{sid}/paper/issue", json={"count": 5}, headers=admin).is_success
    r = client.post(f"{API}/{sid}/paper/issue", json={"count": 1}, headers=admin)
    assert r.status_code == 409 and "已发出选票 5 张" in r.json()["detail"]["message"]
    # A late arrival may vote: one more sheet for them.
    _present(client, admin, sid, deputies.names[5:6])
    r = client.post(f"{API}/{sid}/paper/issue", json={"count": 1}, headers=admin)
    assert r.status_code == 201 and r.json()["issued"] == 6
    # The scrutineers cannot count more valid "for" votes than sheets handed out.
    body = {
        "entry": "per_candidate",
        "collected": 6,
        "valid": 6,
        "invalid": 0,
        "counts": {str(ids[0]): {"for": 6}},
        "scrutineers": NAMES,
    }
    assert client.put(f"{API}/{sid}/paper/count", json=body, headers=admin).status_code == 200
    act(client, admin, sid, "close")
    res = client.get(f"{API}/{sid}/results", headers=admin).json()
    assert res["attendance"]["present"] == 5 and res["attendance_at_close"]["present"] == 6
    assert res["cast"] <= res["attendance_at_close"]["present"]


def test_sheets_never_outnumber_the_electorate(
    client: TestClient, admin: dict[str, str], deputies: Electorate
) -> None:
    ids = create_projects(client, admin, [1_000_000])
    sid = create_session(client, admin, session_payload(ids, deputies.names, ballot_method="paper"))
    act(client, admin, sid, "open")
    client.post(f"{API}/{sid}/paper/sheets", json={"count": 10}, headers=admin)
    r = client.post(f"{API}/{sid}/paper/issue", json={"count": 8}, headers=admin)
    assert r.status_code == 409
    assert "超过应到代表 7 人" in r.json()["detail"]["message"]
    assert "more than the 7 deputies of the electorate" in r.json()["detail"]["message"]
    assert client.post(f"{API}/{sid}/paper/issue", json={"count": 7}, headers=admin).is_success


def test_late_arrivals_count_at_the_close_and_the_sums_hold(
    app: FastAPI,
    client: TestClient,
    session: Session,
    admin: dict[str, str],
    deputies: Electorate,
) -> None:
    """5 present at opening, 2 late: 5 vote on devices, the 2 late ones on paper (one sheet
    invalid); all 7 are present at the close, so nobody is absent."""
    ids = create_projects(client, admin, [1_000_000, 800_000])
    payload = session_payload(ids, deputies.names, ballot_method="mixed", mode="hall")
    sid = create_session(client, admin, payload)
    _present(client, admin, sid, deputies.names[:5])
    opened = act(client, admin, sid, "open")
    _present(client, admin, sid, deputies.names[5:])
    screen = client.get(f"{API}/{sid}/hall").json()
    assert (screen["present"], screen["present_at_opening"], screen["absent"]) == (7, 5, 0)
    p1, p2 = ids
    for h in deputies.headers[:4]:
        vote(client, h, sid, {p1: "for", p2: "against"})
    vote(client, deputies.headers[4], sid, {p1: "abstain", p2: "abstain"})
    client.post(f"{API}/{sid}/paper/sheets", json={"count": 2}, headers=admin)
    for name in deputies.names[5:]:
        r = client.post(f"{API}/{sid}/paper/issue", json={"username": name}, headers=admin)
        assert r.status_code == 201
    body = {
        "entry": "per_candidate",
        "collected": 2,
        "valid": 1,
        "invalid": 1,
        "counts": {str(p1): {"for": 1}, str(p2): {"for": 0}},  # p2 unmarked on the sheet
        "scrutineers": NAMES,
    }
    assert client.put(f"{API}/{sid}/paper/count", json=body, headers=admin).status_code == 200
    act(client, admin, sid, "close")

    res = client.get(f"{API}/{sid}/results", headers=admin).json()
    # The attendance at opening stays as frozen and hashed; the close's is recorded beside it.
    assert res["config_hash"] == opened["config_hash"]
    assert res["attendance"]["present"] == 5 and res["attendance_at_close"]["present"] == 7
    assert res["cast"] == 6  # 5 electronic + 1 valid sheet; the invalid one is named apart
    # A recount finds the same attendance at the close, and one of a result kept before it
    # was recorded leaves it out.
    vs = session.get(VotingSession, sid)
    assert vs is not None and vs.result is not None
    session.refresh(vs)
    assert recount(session, vs=vs)[0] is True
    vs.result = {k: v for k, v in vs.result.items() if k != "attendance_at_close"}
    assert recount(session, vs=vs)[0] is True
    session.rollback()
    state = client.get(f"{API}/{sid}/hall").json()
    assert (state["present"], state["present_at_opening"], state["absent"]) == (7, 5, 0)
    assert (state["voted"], state["invalid"], state["cast"]) == (7, 1, 6)
    assert state["voted"] <= state["present"]
    _sums_hold(state)
    rows = {r["project_id"]: r for r in state["candidates"]}
    assert rows[p2]["counts"] == {"for": 0, "against": 4, "abstain": 1}
    assert rows[p2]["not_voted"] == 1  # present, did not mark it (the valid sheet)

    page = client.get(f"/hall/{sid}").text
    foot = _text(page, "hall-foot")
    assert "应到7人，实到7人，缺席0人，投票7人，其中无效票1张（表决开始时实到5人）" in foot
    assert '<th scope="col" class="c-num c-invalid">无效票</th>' in page
    assert '<th scope="col" class="c-num c-not-voted">未按</th>' in page

    sign_in(app, client, session.exec(select(User).where(User.username == "admin")).one())
    notice = client.get(f"/voting-sessions/{sid}/notice").text
    assert _text(notice, "notice-attendance").startswith(
        "会议应到代表7名，实到代表7名，缺席0名，表决开始时实到代表5名，"
    )
    report = client.get(f"/admin/voting-sessions/{sid}/paper/report").text
    assert _text(report, "report-present") == "7人"
    assert _text(report, "report-present-opening") == "5人"
    assert _text(report, "report-absent") == "0人"
    act(client, admin, sid, "publish")
    results = client.get(f"/results/{sid}").text
    line = _text(results, "attendance-line")
    assert "应到代表7名，实到代表7名，缺席0名。表决开始时实到代表5名" in line
    facts = re.sub(r"<[^>]+>|\s+", "", results.split(f'id="result-{p2}"')[1].split("</li>")[0])
    assert "反对4·弃权1·无效票1·未按1" in facts


def test_absent_deputies_are_not_counted_as_not_voted(
    client: TestClient, admin: dict[str, str], deputies: Electorate
) -> None:
    ids = create_projects(client, admin, [1_000_000])
    sid = create_session(client, admin, session_payload(ids, deputies.names, mode="hall"))
    _present(client, admin, sid, deputies.names[:6])
    act(client, admin, sid, "open")
    for h in deputies.headers[:4]:
        vote(client, h, sid, {ids[0]: "for"})
    open_state = client.get(f"{API}/{sid}/hall").json()
    assert (open_state["voted"], open_state["not_cast"], open_state["absent"]) == (4, 2, 1)
    live = client.get(f"/hall/{sid}").text  # 已投 + 未投 = 实到
    assert 'id="n-cast">4<' in live and 'id="n-not-cast">2<' in live
    act(client, admin, sid, "close")
    state = client.get(f"{API}/{sid}/hall").json()
    assert state["candidates"][0]["not_voted"] == 2 and state["absent"] == 1
    assert state["invalid"] is None
    _sums_hold(state)
    assert "缺席1人" in client.get(f"/hall/{sid}").text.replace(" ", "")


def test_the_quorum_reads_in_official_words(
    client: TestClient, admin: dict[str, str], deputies: Electorate
) -> None:
    ids = create_projects(client, admin, [1_000_000])
    for quorum, words in (("2/3", "三分之二"), ("3/5", "五分之三"), ("0.55", "11/20")):
        payload = session_payload(ids, deputies.names, mode="hall", quorum=quorum)
        sid = create_session(client, admin, payload)
        assert client.get(f"{API}/{sid}/hall").json()["quorum_words"] == words
        assert f"（应到人数的{words}以上）" in client.get(f"/hall/{sid}").text
        assert "of the seated" in client.get(f"/hall/{sid}?lang=en").text
