"""The hall's pages: the officers' sign-in desk (/admin/voting-sessions/{id}/hall) with its
printable seat cards, and the deputy's seat-card page (/hall/{id}/card) from sign-in to the
receipt."""

from __future__ import annotations

import re

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from service.audit import AuditEntry
from service.models import Role, User
from surveys.voting.hall_models import Attendance
from surveys.voting.models import Voter
from tests.conftest import SECRETS
from tests.factories import make_user
from tests.frontend.test_admin_proposals import sign_in
from tests.surveys.voting.factories import (
    bearer,
    create_projects,
    create_session,
    make_deputies,
    make_units,
    session_payload,
)

CODE = re.compile(r"<code>([A-Z2-9]{4}(?:-[A-Z2-9]{4}){4})</code>")


def seed(app: FastAPI, client: TestClient, n: int = 6) -> tuple[User, int, list[int]]:
    """An admin and a draft hall session of two projects and n deputies (quorum 2/3)."""
    with Session(app.state.engine, expire_on_commit=False) as s:
        make_units(s)
        admin = make_user(s, Role.admin, "admin")
        deputies = make_deputies(s, n)
        headers = bearer(app, s, admin)
    ids = create_projects(client, headers, [1_200_000, 800_000])
    payload = session_payload(ids, [d.username for d in deputies], mode="hall")
    return admin, create_session(client, headers, payload), ids


def test_desk_marks_deputies_opens_at_the_quorum_and_prints_cards(
    app: FastAPI, client: TestClient
) -> None:
    admin, sid, _ = seed(app, client)
    desk = f"/admin/voting-sessions/{sid}/hall"
    r = client.get(desk, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    csrf = sign_in(app, client, admin)
    page = client.get(desk)
    assert page.status_code == 200 and "签到台" in page.text
    assert 'id="desk-seated">6<' in page.text and 'id="desk-present">0<' in page.text
    found = client.get(desk, params={"q": "deputy00"}).text
    assert found.count('name="username"') == 6
    for name in ("deputy001", "deputy002", "deputy003"):
        r = client.post(desk + "/attendance", data={"csrf_token": csrf, "username": name})
        assert r.status_code == 200 and f"{name} 已签到" in r.text
    again = client.post(desk + "/attendance", data={"csrf_token": csrf, "username": "deputy001"})
    assert again.status_code == 409 and 'id="desk-error"' in again.text
    unknown = client.post(desk + "/attendance", data={"csrf_token": csrf, "username": "x"})
    assert unknown.status_code == 422 and "不在本次表决的代表名单中" in unknown.text
    # Three of six, below 2/3 (4): the desk says so with the numbers.
    refused = client.post(desk + "/open", data={"csrf_token": csrf})
    assert refused.status_code == 409
    assert "实到 3 人，不足法定人数 4 人" in refused.text
    undone = client.post(desk + "/attendance/deputy003/undo", data={"csrf_token": csrf})
    assert undone.status_code == 200 and 'id="desk-present">2<' in undone.text
    # Cards: printed once, with name, seat, QR (inline SVG) and code.
    printed = client.post(desk + "/cards", data={"csrf_token": csrf})
    assert printed.status_code == 200 and printed.headers["cache-control"] == "no-store"
    codes = CODE.findall(printed.text)
    SECRETS.update(codes)
    assert len(codes) == 6 and printed.text.count("<svg") >= 6
    assert "代表1" in printed.text and "序号 1" in printed.text
    assert "http" not in re.sub(
        r'xmlns(:\w+)?="[^"]+"', "", printed.text.split('id="seat-cards"')[1]
    )
    none_left = client.post(desk + "/cards", data={"csrf_token": csrf})
    assert "所有代表都已有有效的座位卡" in none_left.text
    revoked = client.post(desk + "/cards/deputy004/revoke", data={"csrf_token": csrf})
    assert revoked.status_code == 200 and "deputy004 的座位卡已作废" in revoked.text
    reissued = client.post(desk + "/cards/deputy004/reissue", data={"csrf_token": csrf})
    new_codes = CODE.findall(reissued.text)
    SECRETS.update(new_codes)
    assert len(new_codes) == 1 and "第 2 张" in reissued.text
    for name in ("deputy003", "deputy004"):
        client.post(desk + "/attendance", data={"csrf_token": csrf, "username": name})
    opened = client.post(desk + "/open", data={"csrf_token": csrf})
    assert opened.status_code == 200 and "表决已开始" in opened.text
    assert 'id="desk-frozen"' in opened.text
    with Session(app.state.engine) as s:
        actions = set(s.exec(select(AuditEntry.action).where(AuditEntry.target == str(sid))))
    assert {"attendance.mark", "attendance.undo", "seat_card.issue", "seat_card.revoke"} <= actions
    assert {"seat_card.reissue", "voting_session.open"} <= actions
    # The session's page links to the desk.
    assert (
        f'href="/admin/voting-sessions/{sid}/hall"'
        in client.get(f"/admin/voting-sessions/{sid}").text
    )


def test_a_deputy_signs_in_waits_votes_and_gets_the_receipt_with_the_card(
    app: FastAPI, client: TestClient
) -> None:
    admin, sid, ids = seed(app, client, n=3)
    csrf = sign_in(app, client, admin)
    codes = CODE.findall(
        client.post(f"/admin/voting-sessions/{sid}/hall/cards", data={"csrf_token": csrf}).text
    )
    SECRETS.update(codes)
    client.post(
        f"/admin/voting-sessions/{sid}/hall/attendance",
        data={"csrf_token": csrf, "username": "deputy002"},
    )
    client.cookies.clear()  # the deputy's phone: no account, no cookie
    card = f"/hall/{sid}/card"
    landing = client.get(card)
    assert landing.status_code == 200 and 'id="card-form"' in landing.text
    assert "/static/js/hall_card.js" in landing.text
    wrong = client.post(card, data={"code": "AAAA-BBBB-CCCC-DDDD-EEEE"})
    assert wrong.status_code == 403 and 'id="card-error"' in wrong.text
    waiting = client.post(card, data={"code": codes[0].lower()})
    assert waiting.status_code == 200 and 'id="card-waiting"' in waiting.text
    assert "代表1，您已签到" in waiting.text and waiting.headers["cache-control"] == "no-store"
    with Session(app.state.engine) as s:
        methods = {r.method for r in s.exec(select(Attendance).where(Attendance.session_id == sid))}
    assert methods == {"card", "officer"}
    # The office opens (deputy001 by card, deputy002 at the desk: 2 of 3 = the quorum).
    csrf = sign_in(app, client, admin)
    opened = client.post(f"/admin/voting-sessions/{sid}/hall/open", data={"csrf_token": csrf})
    assert opened.status_code == 200
    client.cookies.clear()
    ballot = client.post(card, data={"code": codes[0]})
    assert ballot.status_code == 200 and 'id="ballot"' in ballot.text
    assert f'action="/hall/{sid}/card/vote/review' in ballot.text
    assert f'name="code" value="{codes[0]}"' in ballot.text
    marks = {f"c{ids[0]}": "for", f"c{ids[1]}": "against"}
    missing = client.post(card + "/vote/review", data={"code": codes[0], f"c{ids[0]}": "for"})
    assert missing.status_code == 422
    review = client.post(card + "/vote/review", data={"code": codes[0], **marks})
    assert review.status_code == 200 and f'action="/hall/{sid}/card/vote?' in review.text
    receipt = client.post(card + "/vote", data={"code": codes[0], **marks})
    assert receipt.status_code == 200 and 'id="receipt-code"' in receipt.text
    SECRETS.add("".join(re.findall(r'<span class="group">(\w+)</span>', receipt.text)))
    again = client.post(card + "/vote", data={"code": codes[0], **marks})
    assert again.status_code == 409 and 'id="card-voted"' in again.text
    with Session(app.state.engine) as s:
        assert len(s.exec(select(Voter).where(Voter.session_id == sid)).all()) == 1
    assert client.get("/hall/999/card").status_code == 404


def test_the_session_form_takes_the_mode_quorum_and_ballot_method(
    app: FastAPI, client: TestClient
) -> None:
    admin, sid, ids = seed(app, client)
    csrf = sign_in(app, client, admin)
    blank = client.get("/admin/voting-sessions/new").text
    assert '<option value="remote" selected' in blank and 'name="quorum"' in blank
    form = {
        "csrf_token": csrf,
        "kind": "selection",
        "title": "会场票决",
        "year": "2027",
        "budget_cap": "3000000",
        "threshold_kind": "majority_of_all",
        "on_no_fit": "skip",
        "project_ids": [str(ids[0])],
        "mode": "hall",
        "quorum": "3/2",
        "ballot_method": "mixed",
    }
    refused = client.post("/admin/voting-sessions", data=form)
    assert refused.status_code == 422 and 'id="err-quorum"' in refused.text
    assert 'value="3/2"' in refused.text  # the input is kept
    r = client.post(
        "/admin/voting-sessions", data={**form, "quorum": "0.75"}, follow_redirects=False
    )
    assert r.status_code == 303, r.text
    new_id = int(r.headers["location"].split("/")[-1].split("?")[0])
    got = client.get(f"/api/v1/voting-sessions/{new_id}").json()
    assert (got["mode"], got["quorum"], got["ballot_method"]) == ("hall", "3/4", "mixed")
    edit = client.get(f"/admin/voting-sessions/{new_id}/edit").text
    assert '<option value="hall" selected' in edit and 'value="3/4"' in edit
    assert '<option value="mixed" selected' in edit
    # The seeded hall session keeps its mode when its form is saved without touching it.
    assert '<option value="hall" selected' in client.get(f"/admin/voting-sessions/{sid}/edit").text


def test_the_console_open_page_below_the_quorum_names_the_numbers(
    app: FastAPI, client: TestClient
) -> None:
    admin, sid, _ = seed(app, client)
    csrf = sign_in(app, client, admin)
    r = client.post(f"/admin/voting-sessions/{sid}/open", data={"csrf_token": csrf})
    # Six seated, none present: the quorum of 2/3 is four.
    assert r.status_code == 409
    assert "应到代表 6 名，实到 0 名，不足法定人数 4 名" in r.text
    r = client.post(f"/admin/voting-sessions/{sid}/open?lang=en", data={"csrf_token": csrf})
    assert "of 6 deputies seated, 0 are present: below the quorum of 4" in r.text
