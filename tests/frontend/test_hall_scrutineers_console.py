"""The close form of a hall vote on the console: it asks for the scrutineers (监票人), one a
line; a close without them, or with one, comes back (422) with the reason beside the field, in
zh-CN and en; with two it closes and the result names them. A remote vote's form has no field
and closes as before; a paper count's scrutineers are shown and stand for an empty field."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from frontend.i18n import translate
from tests.frontend.test_admin_proposals import sign_in
from tests.frontend.test_hall_console_fixes import seed
from tests.surveys.voting.factories import create_session, session_payload

API = "/api/v1/voting-sessions"
BASE = "/admin/voting-sessions"
NAMES = ["张监票", "李监票"]


def _ok(r: object) -> None:
    assert getattr(r, "status_code", 0) < 300, getattr(r, "text", "")


def _open(client: TestClient, h: dict, sid: int, names: list[str]) -> None:
    for name in names[:4]:
        _ok(client.post(f"{API}/{sid}/attendance", json={"username": name}, headers=h["admin"]))
    _ok(client.post(f"{API}/{sid}/open", headers=h["admin"]))


def test_the_close_form_of_a_hall_vote_asks_for_the_scrutineers(
    app: FastAPI, client: TestClient
) -> None:
    admin, deputies, h, ids = seed(app, client)
    names = [d.username for d in deputies]
    sid = create_session(client, h["admin"], session_payload(ids, names, mode="hall"))
    _open(client, h, sid, names)
    csrf = sign_in(app, client, admin)
    page = client.get(f"{BASE}/{sid}/close").text
    assert 'name="scrutineers"' in page and "required" in page.split('name="scrutineers"')[1][:80]
    assert translate("zh-CN", "admin.voting.scrutineers.label") in page

    r = client.post(f"{BASE}/{sid}/close", data={"csrf_token": csrf, "scrutineers": ""})
    assert r.status_code == 422
    assert 'id="err-scrutineers"' in r.text and 'aria-invalid="true"' in r.text
    assert translate("zh-CN", "admin.voting.scrutineers.missing") in r.text
    r = client.post(f"{BASE}/{sid}/close", data={"csrf_token": csrf, "scrutineers": "张监票"})
    assert r.status_code == 422 and 'id="err-scrutineers"' in r.text
    assert "监票人姓名有误" in r.text and ">张监票</textarea>" in r.text  # kept as typed
    assert client.get(f"{API}/{sid}", headers=h["admin"]).json()["state"] == "open"
    # In English, the reason in English.
    r = client.post(f"{BASE}/{sid}/close?lang=en", data={"csrf_token": csrf, "scrutineers": ""})
    assert r.status_code == 422
    assert translate("en", "admin.voting.scrutineers.missing") in r.text
    assert "names (one a line, at least two)" in r.text  # the label, in English

    data = {"csrf_token": csrf, "scrutineers": "张监票\n\n 李监票 \n"}
    r = client.post(f"{BASE}/{sid}/close", data=data, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].endswith("done=close")
    res = client.get(f"{API}/{sid}/results", headers=h["admin"]).json()
    assert res["scrutineers"] == NAMES
    assert f"{BASE}/{sid}/paper/report" in client.get(f"{BASE}/{sid}").text


def test_a_remote_close_form_has_no_field_and_a_paper_count_stands_for_it(
    app: FastAPI, client: TestClient
) -> None:
    admin, deputies, h, ids = seed(app, client)
    names = [d.username for d in deputies]
    remote = create_session(client, h["admin"], session_payload(ids, names))
    _ok(client.post(f"{API}/{remote}/open", headers=h["admin"]))
    payload = session_payload(ids, names, mode="hall", ballot_method="paper")
    paper = create_session(client, h["admin"], payload)
    _open(client, h, paper, names)
    p1, p2 = ids
    _ok(client.post(f"{API}/{paper}/paper/sheets", json={"count": 1}, headers=h["admin"]))
    _ok(client.post(f"{API}/{paper}/paper/issue", json={"count": 1}, headers=h["admin"]))
    count = {
        "entry": "per_candidate",
        "collected": 1,
        "valid": 1,
        "invalid": 0,
        "counts": {str(p1): {"for": 1}, str(p2): {"against": 1}},
        "scrutineers": NAMES,
    }
    _ok(client.put(f"{API}/{paper}/paper/count", json=count, headers=h["admin"]))
    csrf = sign_in(app, client, admin)

    assert 'name="scrutineers"' not in client.get(f"{BASE}/{remote}/close").text
    r = client.post(f"{BASE}/{remote}/close", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303

    page = client.get(f"{BASE}/{paper}/close").text
    assert 'id="paper-scrutineers"' in page and "张监票、李监票" in page
    r = client.post(f"{BASE}/{paper}/close", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    assert client.get(f"{API}/{paper}/results", headers=h["admin"]).json()["scrutineers"] == NAMES
