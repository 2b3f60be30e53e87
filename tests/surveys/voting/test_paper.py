"""Paper ballots: sheets, handing them out, entry sheet by sheet and per candidate, the
reconciliation (发出 / 收回 / 有效 / 无效), the close that waits for it, and mixed sessions."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from service.audit import AuditEntry
from service.models import User
from surveys.voting.models import SessionKind, VotingSession
from surveys.voting.paper import ballot_validity
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


def _session(
    client: TestClient, admin: dict[str, str], deputies: Electorate, method: str, **kw: Any
) -> tuple[int, list[int]]:
    ids = create_projects(client, admin, [1_000_000, 1_500_000, 800_000])
    payload = session_payload(ids, deputies.names, ballot_method=method, **kw)
    return create_session(client, admin, payload), ids


def _post(client: TestClient, admin: dict[str, str], sid: int, path: str, body: Any) -> Any:
    return client.post(f"{API}/{sid}/paper/{path}", json=body, headers=admin)


def _count(client: TestClient, admin: dict[str, str], sid: int, body: dict[str, Any]) -> Any:
    return client.put(f"{API}/{sid}/paper/count", json=body, headers=admin)


def test_paper_only_session_reconciled_end_to_end(
    client: TestClient, session: Session, admin: dict[str, str], deputies: Electorate
) -> None:
    sid, (a, b, c) = _session(client, admin, deputies, "paper", max_for_per_ballot=2)
    r = _post(client, admin, sid, "sheets", {"count": 8})  # printed before opening
    assert r.status_code == 201 and r.json() == {"first": 1, "last": 8}, r.text
    assert _post(client, admin, sid, "issue", {"count": 7}).status_code == 409  # not open yet
    act(client, admin, sid, "open")
    r = client.post(
        f"{API}/{sid}/ballots", json={"choices": {}}, headers=deputies.headers[0]
    )  # no device in a paper-only vote
    assert r.status_code == 409
    r = _post(client, admin, sid, "issue", {"count": 9})
    assert r.status_code == 409 and "8" in r.json()["detail"]  # only 8 printed
    r = _post(client, admin, sid, "issue", {"count": 7})
    assert r.status_code == 201 and r.json()["issued"] == 7
    sheets = {
        1: {a: "for", b: "for", c: "against"},
        2: {a: "for", b: "against", c: "abstain"},
        3: {a: "against", b: "for"},  # c unmarked: counted for no choice
        4: {a: "for", c: "for"},
        5: {},  # blank: invalid
        6: {a: "for", b: "for", c: "for"},  # three "for" with at most two: invalid
        12: {a: "for"},  # never printed: invalid
    }
    answers = {}
    for serial, marks in sheets.items():
        body = {"serial": serial, "marks": {str(p): m for p, m in marks.items()}}
        r = _post(client, admin, sid, "ballots", body)
        assert r.status_code == 201, r.text
        answers[serial] = r.json()
    assert [s for s, o in answers.items() if o["valid"]] == [1, 2, 3, 4]
    assert "空白" in answers[5]["invalid_reason"]
    assert "最多 2 项" in answers[6]["invalid_reason"]
    assert "1–8" in answers[12]["invalid_reason"]
    r = _post(client, admin, sid, "ballots", {"serial": 3, "marks": {}})
    assert r.status_code == 409  # entered twice
    # A sheet entered by mistake is taken back, then entered again.
    assert client.delete(f"{API}/{sid}/paper/ballots/12", headers=admin).status_code == 204
    assert client.delete(f"{API}/{sid}/paper/ballots/12", headers=admin).status_code == 404
    body = {"serial": 12, "marks": {str(a): "for"}}
    assert _post(client, admin, sid, "ballots", body).status_code == 201
    r = _post(client, admin, sid, "ballots", {"serial": 7, "marks": {str(a): "yes"}})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "marks", str(a)]
    # The close waits for the count.
    r = client.post(f"{API}/{sid}/close", headers=admin)
    assert r.status_code == 409 and "尚未计票" in r.json()["detail"]
    by_ballot = {"entry": "by_ballot", "collected": 7, "scrutineers": NAMES}
    r = _count(client, admin, sid, by_ballot | {"scrutineers": ["张监票"]})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "scrutineers"]
    r = _count(client, admin, sid, by_ballot | {"collected": 6})
    assert r.status_code == 409 and "已逐张录入 7 张" in r.json()["detail"]
    r = _count(client, admin, sid, by_ballot)
    assert r.status_code == 200, r.text
    state = r.json()
    assert (state["issued"], state["collected"], state["valid"], state["invalid"]) == (7, 7, 4, 3)
    assert state["reconciled"] and state["problems"] == []
    # After the count nothing more is handed out or entered.
    assert _post(client, admin, sid, "ballots", {"serial": 7, "marks": {}}).status_code == 409
    assert client.delete(f"{API}/{sid}/paper/ballots/12", headers=admin).status_code == 409
    act(client, admin, sid, "close")
    result = client.get(f"{API}/{sid}/results", headers=admin).json()
    assert result["cast"] == 4 and result["ballots_paper"] == 4
    assert result["ballots_electronic"] == 0
    assert result["paper"] == {
        "entry": "by_ballot",
        "issued": 7,
        "collected": 7,
        "valid": 4,
        "invalid": 3,
        "scrutineers": NAMES,
    }
    # Recomputed from the valid sheets by hand.
    expected = {p: Counter(sheets[s].get(p) for s in (1, 2, 3, 4)) for p in (a, b, c)}
    rows = {row["project_id"]: row for row in result["projects"]}
    for p in (a, b, c):
        got = (rows[p]["for"], rows[p]["against"], rows[p]["abstain"])
        assert got == (expected[p]["for"], expected[p]["against"], expected[p]["abstain"])
    assert "entered one by one, are among its ballots" in result["equal_shares"]["method"]
    # The Pabulib export holds the valid sheets as ballots, so its votes add up.
    exported = client.get(f"{API}/{sid}/export.pb", headers=admin)
    assert exported.status_code == 200 and "num_votes;4" in exported.text
    entries = session.exec(select(AuditEntry).where(AuditEntry.action == "paper.count")).all()
    assert len(entries) == 1 and json.loads(entries[0].detail)["scrutineers"] == NAMES
    actions = {e.action for e in session.exec(select(AuditEntry))}
    assert {"paper.print", "paper.issue", "paper.ballot", "paper.count"} <= actions
    assert "paper.ballot_delete" in actions


def test_per_candidate_totals_and_their_reconciliation(
    client: TestClient, admin: dict[str, str], deputies: Electorate
) -> None:
    sid, (a, b, c) = _session(client, admin, deputies, "paper")
    act(client, admin, sid, "open")
    assert _post(client, admin, sid, "sheets", {"count": 7}).status_code == 201
    assert _post(client, admin, sid, "issue", {"count": 7}).status_code == 201
    counts = {
        str(a): {"for": 5, "against": 1, "abstain": 0},
        str(b): {"for": 3, "against": 2, "abstain": 1},
        str(c): {"for": 2, "against": 2, "abstain": 2},
    }
    body = {
        "entry": "per_candidate",
        "collected": 7,
        "valid": 6,
        "invalid": 1,
        "counts": counts,
        "scrutineers": NAMES,
    }
    r = _count(client, admin, sid, body | {"valid": 5})  # 5 + 1 != 7
    assert r.status_code == 409 and "有效 5 + 无效 1 ≠ 收回 7" in r.json()["detail"]
    too_many = {**counts, str(a): {"for": 6, "against": 1, "abstain": 0}}
    r = _count(client, admin, sid, body | {"counts": too_many})
    assert r.status_code == 409 and f"项目 {a} 的表决数 7 多于有效票 6" in r.json()["detail"]
    r = _count(client, admin, sid, body | {"counts": {str(a): counts[str(a)]}})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "counts", str(b)]
    r = _count(client, admin, sid, body | {"counts": {**counts, "999": counts[str(a)]}})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "counts", "999"]
    r = _count(client, admin, sid, {k: v for k, v in body.items() if k != "valid"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "valid"]
    r = _count(client, admin, sid, body | {"collected": -1})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "collected"]
    assert _count(client, admin, sid, body).status_code == 200
    act(client, admin, sid, "close")
    result = client.get(f"{API}/{sid}/results", headers=admin).json()
    rows = {row["project_id"]: row for row in result["projects"]}
    for key, want in counts.items():
        row = rows[int(key)]
        assert (row["for"], row["against"], row["abstain"]) == tuple(want.values())
    assert result["cast"] == 6 and result["ballots_paper"] == 6
    assert result["paper"]["entry"] == "per_candidate"
    assert "not among its ballots" in result["equal_shares"]["method"]
    assert client.get(f"{API}/{sid}/export.pb", headers=admin).status_code == 409  # no ballots
    # Majority of all 7 deputies is 4 "for" votes: only project a passes.
    assert [r["project_id"] for r in result["projects"] if r["passed"]] == [a]


def test_more_collected_than_issued_voids_the_vote(
    app: FastAPI,
    client: TestClient,
    session: Session,
    admin: dict[str, str],
    deputies: Electorate,
) -> None:
    sid, ids = _session(client, admin, deputies, "paper")
    act(client, admin, sid, "open")
    _post(client, admin, sid, "sheets", {"count": 10})
    _post(client, admin, sid, "issue", {"count": 5})
    body = {
        "entry": "per_candidate",
        "collected": 6,
        "valid": 6,
        "invalid": 0,
        "counts": {str(p): {"for": 6} for p in ids},
        "scrutineers": NAMES,
    }
    # Entry errors stay refused, void or not.
    r = _count(client, admin, sid, body | {"valid": 5})
    assert r.status_code == 409 and "有效 5 + 无效 0 ≠ 收回 6" in r.json()["detail"]
    r = _count(client, admin, sid, body | {"counts": {str(p): {"for": 7} for p in ids}})
    assert r.status_code == 409 and "多于有效票 6" in r.json()["detail"]
    r = _count(client, admin, sid, body | {"scrutineers": NAMES[:1]})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][:2] == ["body", "scrutineers"]
    # The count as the scrutineers found it is kept; the vote is void.
    r = _count(client, admin, sid, body)
    assert r.status_code == 200, r.text
    assert r.json()["counted"] and r.json()["collected"] == 6
    entry = session.exec(
        select(AuditEntry).where(AuditEntry.action == "paper.count", AuditEntry.target == str(sid))
    ).one()
    assert "收回 6 张，发出 5 张" in entry.detail
    # The console's paper page says so, and the close is one tap away.
    sign_in(app, client, session.exec(select(User).where(User.username == "admin")).one())
    page = client.get(f"/admin/voting-sessions/{sid}/paper?lang=zh-CN").text
    assert 'id="paper-void"' in page and "收回 6 张，发出 5 张" in page
    assert 'id="paper-close-link"' in page
    client.cookies.clear()
    act(client, admin, sid, "close")
    res = client.get(f"{API}/{sid}/results", headers=admin).json()
    assert res["void"] is True
    assert "表决无效" in res["void_reason"] and "收回 6 张，发出 5 张" in res["void_reason"]
    assert "collected 6 > issued 5" in res["void_reason"]
    assert res["cast"] == 0 and res["budget_used"] == 0 and res["equal_shares"]["selected"] == []
    assert not any(p["passed"] or p["selected"] for p in res["projects"])
    assert {(p["for"], p["against"], p["abstain"]) for p in res["projects"]} == {(0, 0, 0)}
    assert res["paper"]["collected"] == 6 and res["paper"]["issued"] == 5
    act(client, admin, sid, "publish")
    # The results page, the announcement and the big screen say so instead of counts.
    assert client.get(f"{API}/{sid}/hall").json()["void"] is True
    for page in (f"/results/{sid}", f"/voting-sessions/{sid}/notice", f"/hall/{sid}"):
        r = client.get(page + "?lang=zh-CN")
        assert r.status_code == 200 and "text/html" in r.headers["content-type"], page
        assert "表决无效" in r.text and "收回 6 张，发出 5 张" in r.text, page
        assert 'id="result-' not in r.text and 'id="notice-selected"' not in r.text, page
        assert 'id="hall-table"' not in r.text, page
        r = client.get(page + "?lang=en")
        assert "The vote is void" in r.text and "6 collected, 5 issued" in r.text, page
    # Back to the candidates: the office may put them on a new session.
    for p in ids:
        r = client.get(f"/api/v1/projects/{p}", headers=admin)
        assert r.json()["status"] == "not_selected", r.text
    again = create_session(client, admin, session_payload(ids, deputies.names))
    assert again != sid


def test_mixed_session_adds_up_and_one_vote_per_deputy(
    client: TestClient, session: Session, admin: dict[str, str], deputies: Electorate
) -> None:
    sid, (a, b, c) = _session(client, admin, deputies, "mixed")
    act(client, admin, sid, "open")
    assert _post(client, admin, sid, "sheets", {"count": 3}).status_code == 201
    # deputy001 takes a sheet, so cannot vote on the device.
    r = _post(client, admin, sid, "issue", {"username": deputies.names[0]})
    assert r.status_code == 201 and r.json()["issued"] == 1
    r = client.post(
        f"{API}/{sid}/ballots",
        json={"choices": {str(a): "for", str(b): "for", str(c): "for"}},
        headers=deputies.headers[0],
    )
    assert r.status_code == 409
    # deputy002 voted on the device, so gets no sheet; nor does the same deputy twice.
    vote(client, deputies.headers[1], sid, {a: "for", b: "against", c: "for"})
    vote(client, deputies.headers[2], sid, {a: "for", b: "for", c: "abstain"})
    assert _post(client, admin, sid, "issue", {"username": deputies.names[1]}).status_code == 409
    assert _post(client, admin, sid, "issue", {"username": deputies.names[0]}).status_code == 409
    r = _post(client, admin, sid, "issue", {"username": "nobody"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "username"]
    r = _post(client, admin, sid, "issue", {"count": 2})  # named only in a mixed session
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "username"]
    assert _post(client, admin, sid, "issue", {"username": deputies.names[3]}).status_code == 201
    # The close waits for the paper count once sheets went out.
    assert client.post(f"{API}/{sid}/close", headers=admin).status_code == 409
    for serial, marks in ((2, {a: "against", b: "for", c: "for"}), (3, {a: "for"})):
        body = {"serial": serial, "marks": {str(p): m for p, m in marks.items()}}
        assert _post(client, admin, sid, "ballots", body).status_code == 201
    body = {"entry": "by_ballot", "collected": 2, "scrutineers": NAMES}
    assert _count(client, admin, sid, body).status_code == 200
    act(client, admin, sid, "close")
    result = client.get(f"{API}/{sid}/results", headers=admin).json()
    assert (result["ballots_electronic"], result["ballots_paper"], result["cast"]) == (2, 2, 4)
    assert result["voters_recorded"] == 4  # two on the device, two named sheets
    rows = {row["project_id"]: row for row in result["projects"]}
    assert (rows[a]["for"], rows[a]["against"]) == (3, 1)
    assert (rows[b]["for"], rows[b]["against"]) == (2, 1)
    assert (rows[c]["for"], rows[c]["abstain"]) == (2, 1)


def test_mixed_session_with_no_sheet_handed_out_closes(
    client: TestClient, admin: dict[str, str], deputies: Electorate
) -> None:
    sid, (a, b, c) = _session(client, admin, deputies, "mixed")
    act(client, admin, sid, "open")
    vote(client, deputies.headers[0], sid, {a: "for", b: "for", c: "for"})
    result = act(client, admin, sid, "close")
    assert result["state"] == "closed"
    kept = client.get(f"{API}/{sid}/results", headers=admin).json()
    assert (kept["ballots_electronic"], kept["ballots_paper"], kept["paper"]) == (1, 0, None)


def test_paper_routes_need_an_admin_and_a_paper_session(
    client: TestClient, admin: dict[str, str], deputies: Electorate
) -> None:
    sid, _ = _session(client, admin, deputies, "electronic")
    routes = [
        ("get", f"{API}/{sid}/paper", None),
        ("get", f"{API}/{sid}/paper/ballots", None),
        ("post", f"{API}/{sid}/paper/sheets", {"count": 1}),
        ("post", f"{API}/{sid}/paper/issue", {"count": 1}),
        ("post", f"{API}/{sid}/paper/ballots", {"serial": 1, "marks": {}}),
        ("put", f"{API}/{sid}/paper/count", {"entry": "by_ballot", "collected": 0}),
        ("delete", f"{API}/{sid}/paper/ballots/1", None),
    ]
    for method, url, body in routes:
        assert client.request(method, url, json=body).status_code == 401, url
        r = client.request(method, url, json=body, headers=deputies.headers[0])
        assert r.status_code == 403, url
    assert _post(client, admin, sid, "sheets", {"count": 1}).status_code == 409
    assert _post(client, admin, sid, "sheets", {"count": 0}).json()["detail"][0]["loc"] == [
        "body",
        "count",
    ]
    assert client.get(f"{API}/999/paper", headers=admin).status_code == 404


def _vs(max_for: int | None = 2, kind: SessionKind = SessionKind.selection) -> VotingSession:
    return VotingSession(kind=kind, title="t", year=2027, max_for_per_ballot=max_for)


def test_validity_rules_each_with_a_hand_example() -> None:
    vs = _vs()
    # A valid sheet: two "for" of at most two, one candidate left unmarked.
    assert ballot_validity(vs, 10, 4, {1: "for", 2: "for"}) == ""
    # Serial 11 when sheets 1..10 were printed: a sheet that was never handed out.
    assert ballot_validity(vs, 10, 11, {1: "for"}) == "编号 11 不在印发的选票编号 1–10 之内"
    # Nothing marked at all.
    assert ballot_validity(vs, 10, 5, {}) == "未作任何标记（空白票）"
    # Three "for" where at most two are allowed.
    reason = ballot_validity(vs, 10, 6, {1: "for", 2: "for", 3: "for"})
    assert reason == "赞成 3 项，超过每张选票最多 2 项"
    # No limit configured: any number of "for" marks.
    assert ballot_validity(_vs(None), 10, 6, {1: "for", 2: "for", 3: "for"}) == ""
    # "Against" and "abstain" marks never count against the limit.
    assert ballot_validity(vs, 10, 7, {1: "for", 2: "against", 3: "abstain"}) == ""
