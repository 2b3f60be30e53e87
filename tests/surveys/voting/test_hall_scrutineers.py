"""The scrutineers (监票人) of a vote's close (surveys.voting.scrutiny): a hall vote closes
only with at least two named (422 naming ``scrutineers``), unless its paper count named them;
a remote vote closes without a body as before; the names go into the close's audit entry and
the kept result, and the 计票报告 of an electronic-only hall vote states them with 应到 / 实到
and the counts."""

from __future__ import annotations

import json

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from service.audit import AuditEntry
from surveys.voting.models import VotingSession
from surveys.voting.results import recount
from tests.frontend.test_admin_proposals import sign_in
from tests.frontend.test_hall_console_fixes import seed

API = "/api/v1/voting-sessions"
NAMES = ["张监票", "李监票"]


def _ok(r: object) -> None:
    assert getattr(r, "status_code", 0) < 300, getattr(r, "text", "")


def _hall(client: TestClient, h: dict, ids: list[int], names: list[str], **extra: str) -> int:
    from tests.surveys.voting.factories import create_session, session_payload

    payload = session_payload(ids, names, mode="hall", quorum="3/5", **extra)
    sid = create_session(client, h["admin"], payload)
    for name in names[:4]:
        _ok(client.post(f"{API}/{sid}/attendance", json={"username": name}, headers=h["admin"]))
    _ok(client.post(f"{API}/{sid}/open", headers=h["admin"]))
    return sid


def _close_entry(app: FastAPI, sid: int) -> dict:
    with Session(app.state.engine) as s:
        detail = s.exec(
            select(AuditEntry.detail).where(
                AuditEntry.action == "voting_session.close", AuditEntry.target == str(sid)
            )
        ).one()
    return dict(json.loads(detail))


def test_a_hall_vote_closes_only_under_named_scrutineers(app: FastAPI, client: TestClient) -> None:
    admin, deputies, h, ids = seed(app, client)
    names = [d.username for d in deputies]
    sid = _hall(client, h, ids, names)
    p1, p2 = ids
    for voter in h["voters"][:3]:
        body = {"choices": {str(p1): "for", str(p2): "against"}}
        _ok(client.post(f"{API}/{sid}/ballots", json=body, headers=voter))
    # Without a body, with one name, with a name twice, with a blank name: 422 naming the field.
    refused: list[dict[str, list[str]] | None] = [None, {}, {"scrutineers": ["张监票"]}]
    refused.append({"scrutineers": ["张监票", " 张监票"]})
    for bad in refused:
        r = client.post(f"{API}/{sid}/close", json=bad, headers=h["admin"])
        assert r.status_code == 422, (bad, r.text)
        assert r.json()["detail"][0]["loc"] == ["body", "scrutineers"], bad
    r = client.post(f"{API}/{sid}/close", json={"scrutineers": ["", "李"]}, headers=h["admin"])
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "scrutineers"]
    r = client.post(f"{API}/{sid}/close", json={"names": NAMES}, headers=h["admin"])
    assert r.status_code == 422  # an unknown field is refused, not ignored
    assert client.get(f"{API}/{sid}", headers=h["admin"]).json()["state"] == "open"

    r = client.post(f"{API}/{sid}/close", json={"scrutineers": NAMES}, headers=h["admin"])
    assert r.status_code == 200, r.text
    assert _close_entry(app, sid)["scrutineers"] == NAMES
    res = client.get(f"{API}/{sid}/results", headers=h["admin"]).json()
    assert res["scrutineers"] == NAMES
    with Session(app.state.engine) as s:  # named, not counted: a recount still agrees
        assert recount(s, vs=s.get_one(VotingSession, sid))[0] is True
    # Published, the record keeps them.
    _ok(client.post(f"{API}/{sid}/publish", headers=h["admin"]))
    assert client.get(f"{API}/{sid}/results").json()["scrutineers"] == NAMES

    # The 计票报告 of this electronic-only hall vote: names, 应到 / 实到, the counts, signatures.
    sign_in(app, client, admin)
    page = client.get(f"/admin/voting-sessions/{sid}/paper/report")
    assert page.status_code == 200, page.text
    text = page.text
    signatures = text.split('id="report-scrutineers"')[1].split("</ul>")[0]
    assert "张监票" in signatures and "李监票" in signatures and "计票人" in signatures
    assert signatures.count("签名：") == 3
    assert "5 人" in text  # 应到
    assert 'id="report-present">4 人' in text and 'id="report-present-opening">4 人' in text
    votes = text.split('id="report-votes"')[1].split("</table>")[0]
    assert "<strong>3</strong>" in votes  # 3 赞成 for p1, all electronic
    session_page = client.get(f"/admin/voting-sessions/{sid}").text
    assert f'href="/admin/voting-sessions/{sid}/paper/report"' in session_page


def test_a_remote_vote_closes_without_a_body_and_may_name_them(
    app: FastAPI, client: TestClient
) -> None:
    from tests.surveys.voting.factories import create_session, session_payload

    _admin, deputies, h, ids = seed(app, client)
    names = [d.username for d in deputies]
    bare = create_session(client, h["admin"], session_payload(ids, names))
    named = create_session(client, h["admin"], session_payload(ids, names))
    for sid in (bare, named):
        _ok(client.post(f"{API}/{sid}/open", headers=h["admin"]))
    _ok(client.post(f"{API}/{bare}/close", headers=h["admin"]))
    assert client.get(f"{API}/{bare}/results", headers=h["admin"]).json()["scrutineers"] == []
    assert _close_entry(app, bare)["scrutineers"] == []
    r = client.post(f"{API}/{named}/close", json={"scrutineers": ["甲"]}, headers=h["admin"])
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "scrutineers"]
    _ok(client.post(f"{API}/{named}/close", json={"scrutineers": NAMES}, headers=h["admin"]))
    assert client.get(f"{API}/{named}/results", headers=h["admin"]).json()["scrutineers"] == NAMES


def test_a_paper_count_names_the_scrutineers_of_a_bodiless_hall_close(
    app: FastAPI, client: TestClient
) -> None:
    _admin, deputies, h, ids = seed(app, client)
    names = [d.username for d in deputies]
    sid = _hall(client, h, ids, names, ballot_method="mixed")
    p1, p2 = ids
    _ok(client.post(f"{API}/{sid}/paper/sheets", json={"count": 1}, headers=h["admin"]))
    issue = {"username": names[0]}
    _ok(client.post(f"{API}/{sid}/paper/issue", json=issue, headers=h["admin"]))
    count = {
        "entry": "per_candidate",
        "collected": 1,
        "valid": 1,
        "invalid": 0,
        "counts": {str(p1): {"for": 1}, str(p2): {"against": 1}},
        "scrutineers": NAMES,
    }
    _ok(client.put(f"{API}/{sid}/paper/count", json=count, headers=h["admin"]))
    _ok(client.post(f"{API}/{sid}/close", headers=h["admin"]))
    res = client.get(f"{API}/{sid}/results", headers=h["admin"]).json()
    assert res["scrutineers"] == NAMES == res["paper"]["scrutineers"]
    assert _close_entry(app, sid)["scrutineers"] == NAMES
