"""The console around the hall vote: a refused hand-out in words, the count report of a void
vote (each count from its own records, never negative) and its time zone, a mode change that
resets the hall's default quorum (API and form), the texts on a void count, and the seat cards
of a run-off at the sign-in desk (the first round's)."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session

from frontend.i18n import translate
from service.models import Role, User
from surveys.voting.paper_router import update_paper_count
from tests.factories import make_user
from tests.frontend.test_admin_proposals import sign_in
from tests.frontend.test_admin_voting_sessions import form
from tests.surveys.voting.factories import (
    bearer,
    create_projects,
    create_session,
    make_deputies,
    make_units,
    session_payload,
)

API = "/api/v1/voting-sessions"
BASE = "/admin/voting-sessions"
NAMES = ["张监票", "李监票"]


def seed(app: FastAPI, client: TestClient, n: int = 5) -> tuple[User, list[User], dict, list[int]]:
    with Session(app.state.engine, expire_on_commit=False) as s:
        make_units(s)
        admin = make_user(s, Role.admin, "admin")
        deputies = make_deputies(s, n)
        headers = bearer(app, s, admin)
        voters = [bearer(app, s, d) for d in deputies]
    ids = create_projects(client, headers, [1_200_000, 800_000])
    return admin, deputies, {"admin": headers, "voters": voters}, ids


def _ok(r: object) -> None:
    assert getattr(r, "status_code", 0) < 300, getattr(r, "text", "")


def test_a_refused_hand_out_is_shown_in_words(app: FastAPI, client: TestClient) -> None:
    admin, deputies, h, ids = seed(app, client)
    names = [d.username for d in deputies]
    payload = session_payload(ids, names, ballot_method="paper", mode="hall", quorum="3/5")
    sid = create_session(client, h["admin"], payload)
    for name in names[:3]:
        _ok(client.post(f"{API}/{sid}/attendance", json={"username": name}, headers=h["admin"]))
    _ok(client.post(f"{API}/{sid}/open", headers=h["admin"]))
    _ok(client.post(f"{API}/{sid}/paper/sheets", json={"count": 10}, headers=h["admin"]))
    csrf = sign_in(app, client, admin)
    r = client.post(f"{BASE}/{sid}/paper/issue", data={"csrf_token": csrf, "count": "4"})
    assert r.status_code == 409
    assert "超过实到代表 3 人" in r.text and "{" not in r.text.split("超过实到代表")[0][-80:]
    assert client.get(f"{API}/{sid}/paper", headers=h["admin"]).json()["issued"] == 0


def test_the_report_of_a_void_vote_counts_from_the_records(
    app: FastAPI, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin, deputies, h, ids = seed(app, client)
    names = [d.username for d in deputies]
    sid = create_session(client, h["admin"], session_payload(ids, names, ballot_method="mixed"))
    _ok(client.post(f"{API}/{sid}/open", headers=h["admin"]))
    p1, p2 = ids
    for voter in h["voters"][:3]:
        body = {"choices": {str(p1): "for", str(p2): "against"}}
        _ok(client.post(f"{API}/{sid}/ballots", json=body, headers=voter))
    _ok(client.post(f"{API}/{sid}/paper/sheets", json={"count": 2}, headers=h["admin"]))
    for name in names[3:]:
        _ok(client.post(f"{API}/{sid}/paper/issue", json={"username": name}, headers=h["admin"]))
    count = {
        "entry": "per_candidate",
        "collected": 3,  # one more than issued: the vote is void
        "valid": 3,
        "invalid": 0,
        "counts": {str(p1): {"for": 3}, str(p2): {"abstain": 3}},
        "scrutineers": NAMES,
    }
    _ok(client.put(f"{API}/{sid}/paper/count", json=count, headers=h["admin"]))
    _ok(client.post(f"{API}/{sid}/close", headers=h["admin"]))
    sign_in(app, client, admin)
    page = client.get(f"{BASE}/{sid}/paper/report").text
    table = re.search(r'id="report-votes".*?</table>', page, re.S)
    assert table is not None
    rows = {
        int(pid): [int(n) for n in re.findall(r'<td class="num">(?:<strong>)?(-?\d+)', cells)]
        for pid, cells in re.findall(
            r"<tr><th scope=\"row\">#(\d+).*?</th>(.*?)</tr>", table.group(0), re.S
        )
    }
    assert min(min(v) for v in rows.values()) >= 0
    # p1: 赞成 3 electronic + 3 paper = 6; p2: 反对 3 electronic, 弃权 3 on paper.
    assert rows[p1] == [3, 3, 6, 0, 0, 0, 0, 0, 0]
    assert rows[p2] == [0, 0, 0, 3, 0, 3, 0, 3, 3]
    void = re.sub(r"<[^>]+>|\s+", "", page.split('id="report-void"')[1].split("</p>")[0])
    assert "表决无效：收回选票3张，多于发出选票2张" in void and "均不计入表决结果" in void
    assert "（北京时间）" in page
    elsewhere = app.state.settings.model_copy(update={"time_zone": "Europe/Berlin"})
    monkeypatch.setattr(app.state, "settings", elsewhere)
    page = client.get(f"{BASE}/{sid}/paper/report").text
    assert "（Europe/Berlin）" in page and "北京时间" not in page


def test_a_mode_change_resets_the_halls_default_quorum(app: FastAPI, client: TestClient) -> None:
    admin, deputies, h, ids = seed(app, client)
    names = [d.username for d in deputies]
    sid = create_session(client, h["admin"], session_payload(ids, names, mode="hall"))
    r = client.patch(f"{API}/{sid}", json={"mode": "remote"}, headers=h["admin"])
    assert (r.json()["mode"], r.json()["quorum"]) == ("remote", None)
    assert client.post(f"{API}/{sid}/open", headers=h["admin"]).status_code == 200
    # A quorum the office chose stays, with the mode change or in the same request.
    payload = session_payload(ids, names, mode="hall", quorum="3/5")
    sid = create_session(client, h["admin"], payload)
    r = client.patch(f"{API}/{sid}", json={"mode": "remote"}, headers=h["admin"])
    assert (r.json()["mode"], r.json()["quorum"]) == ("remote", "3/5")
    sid = create_session(client, h["admin"], session_payload(ids, names, mode="hall"))
    body = {"mode": "remote", "quorum": "2/3"}
    assert client.patch(f"{API}/{sid}", json=body, headers=h["admin"]).json()["quorum"] == "2/3"
    # Back to the hall: its default again.
    sid = create_session(client, h["admin"], session_payload(ids, names))
    r = client.patch(f"{API}/{sid}", json={"mode": "hall"}, headers=h["admin"])
    assert r.json()["quorum"] == "2/3"
    # The console's form shows the saved quorum: left as it was, the mode change resets it.
    csrf = sign_in(app, client, admin)
    sid = create_session(client, h["admin"], session_payload(ids, names, mode="hall"))
    posted = form(ids, mode="remote", quorum="2/3")
    r = client.post(
        f"{BASE}/{sid}/edit", data={"csrf_token": csrf, **posted}, follow_redirects=False
    )
    assert r.status_code == 303, r.text
    shown = client.get(f"{API}/{sid}", headers=h["admin"]).json()
    assert (shown["mode"], shown["quorum"]) == ("remote", None)
    posted = form(ids, mode="hall", quorum="3/4")
    client.post(f"{BASE}/{sid}/edit", data={"csrf_token": csrf, **posted})
    assert client.get(f"{API}/{sid}", headers=h["admin"]).json()["quorum"] == "3/4"


def test_the_texts_say_a_void_count_is_kept() -> None:
    zh = translate("zh-CN", "admin.paper.scrutineers_hint")
    en = translate("en", "admin.paper.scrutineers_hint")
    assert "表决无效" in zh and "不能录入" not in zh and "照录" in zh
    assert "void" in en and "refused" not in en and "kept" in en
    doc = update_paper_count.__doc__ or ""
    assert "kept as counted" in doc and "e.g. more collected than issued" not in doc


def test_a_runoff_desk_shows_and_acts_on_the_first_rounds_cards(
    app: FastAPI, client: TestClient
) -> None:
    admin, deputies, h, _ = seed(app, client, n=7)
    names = [d.username for d in deputies]
    ids = create_projects(client, h["admin"], [1_000_000, 1_500_000, 800_000])
    payload = session_payload(
        ids, names, mode="hall", max_selected=2, budget_cap=5_000_000, on_tie="runoff"
    )
    sid = create_session(client, h["admin"], payload)
    for name in names:
        _ok(client.post(f"{API}/{sid}/attendance", json={"username": name}, headers=h["admin"]))
    r = client.post(f"{API}/{sid}/seat-cards", headers=h["admin"])
    codes = {c["username"]: c["code"] for c in r.json()}
    _ok(client.post(f"{API}/{sid}/open", headers=h["admin"]))
    p1, p2, p3 = ids
    for voter in h["voters"]:  # p2 and p3 tie for the second place
        body = {"choices": {str(p1): "for", str(p2): "for", str(p3): "for"}}
        _ok(client.post(f"{API}/{sid}/ballots", json=body, headers=voter))
    _ok(client.post(f"{API}/{sid}/close", json={"scrutineers": NAMES}, headers=h["admin"]))
    rid = client.post(f"{API}/{sid}/runoff", headers=h["admin"]).json()["id"]
    cards = client.get(f"{API}/{rid}/seat-cards", headers=h["admin"]).json()
    assert all(c["number"] == 1 for c in cards)
    sign_in(app, client, admin)
    desk = client.get(f"{BASE}/{rid}/hall").text
    assert "无有效卡" not in desk and "第 1 张有效" in desk
    # Revoking on the run-off revokes the first round's card: it no longer votes here.
    lost = names[0]
    r = client.post(f"{API}/{rid}/seat-cards/{lost}/revoke", headers=h["admin"])
    assert r.status_code == 204
    rows = {
        c["username"]: c for c in client.get(f"{API}/{rid}/seat-cards", headers=h["admin"]).json()
    }
    assert rows[lost]["number"] is None and rows[lost]["revoked"] == 1
    first = {
        c["username"]: c for c in client.get(f"{API}/{sid}/seat-cards", headers=h["admin"]).json()
    }
    assert first[lost]["number"] is None
    _ok(client.post(f"{API}/{rid}/open", headers=h["admin"]))
    body = {"code": codes[lost], "choices": {str(p1): "for", str(p2): "for", str(p3): "against"}}
    assert client.post(f"{API}/{rid}/card/ballots", json=body).status_code == 403
    new = client.post(f"{API}/{rid}/seat-cards/{lost}", headers=h["admin"]).json()
    assert new["number"] == 2
    body["code"] = new["code"]
    assert client.post(f"{API}/{rid}/card/ballots", json=body).status_code == 201
    rows = {
        c["username"]: c for c in client.get(f"{API}/{rid}/seat-cards", headers=h["admin"]).json()
    }
    assert rows[lost]["number"] == 2
    # A reissued card for another deputy revokes their first-round card.
    other = names[1]
    client.post(f"{API}/{rid}/seat-cards/{other}", headers=h["admin"])
    body = {"code": codes[other], "choices": {str(p1): "for", str(p2): "for", str(p3): "against"}}
    assert client.post(f"{API}/{rid}/card/ballots", json=body).status_code == 403
