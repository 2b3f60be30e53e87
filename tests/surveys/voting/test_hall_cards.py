"""Seat cards of a hall session: issued once with a code only its hash is kept of, sign-in
and voting with the code, revocation and reissue, refusals, rate limits, and no link from
ballots to cards."""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import inspect
from sqlmodel import Session, select

from service.audit import AuditEntry
from service.models import Role
from surveys.voting.ballots import RECEIPT_ALPHABET
from surveys.voting.hall import CODE_LENGTH
from surveys.voting.hall_models import Attendance, SeatCard
from surveys.voting.models import Ballot, Voter
from tests.conftest import SECRETS
from tests.factories import headers_for
from tests.surveys.voting.conftest import Electorate
from tests.surveys.voting.factories import (
    act,
    create_projects,
    create_session,
    make_units,
    session_payload,
    vote,
)

API = "/api/v1/voting-sessions"
CODE = re.compile(r"^[A-Z2-9]{4}(-[A-Z2-9]{4}){4}$")


def _hall(
    client: TestClient, admin: dict[str, str], names: list[str]
) -> tuple[int, list[int], dict[str, str]]:
    """A hall session for names, with a card for each (username -> code)."""
    ids = create_projects(client, admin, [1_000_000, 800_000])
    sid = create_session(client, admin, session_payload(ids, names, mode="hall", quorum="1/2"))
    r = client.post(f"{API}/{sid}/seat-cards", headers=admin)
    assert r.status_code == 201, r.text
    cards = {c["username"]: c["code"] for c in r.json()}
    SECRETS.update(cards.values())
    return sid, ids, cards


def _ballot(client: TestClient, sid: int, code: str, ids: list[int], mark: str = "for") -> int:
    r = client.post(
        f"{API}/{sid}/card/ballots",
        json={"code": code, "choices": {str(i): mark for i in ids}},
    )
    if r.status_code == 201:
        SECRETS.add(r.json()["receipt"])
    return r.status_code


def test_cards_are_issued_once_and_only_their_hash_is_kept(
    client: TestClient, session: Session, admin: dict[str, str], deputies: Electorate
) -> None:
    sid, _, cards = _hall(client, admin, deputies.names[:5])
    assert sorted(cards) == deputies.names[:5]
    assert all(CODE.match(c) for c in cards.values())
    assert len(set(cards.values())) == 5
    # Entropy: 20 symbols of a 31-letter alphabet.
    assert len(RECEIPT_ALPHABET) == 31 and CODE_LENGTH * math.log2(31) >= 80
    r = client.post(f"{API}/{sid}/seat-cards", headers=admin)
    assert r.status_code == 201 and r.json() == []  # everyone holds a valid card already
    listed = client.get(f"{API}/{sid}/seat-cards", headers=admin).json()
    assert [(c["seat"], c["number"], c["revoked"]) for c in listed] == [
        (i, 1, 0) for i in range(1, 6)
    ]
    assert "code" not in listed[0]
    stored = {c.code_hash for c in session.exec(select(SeatCard))}
    plain = {hashlib.sha256(c.replace("-", "").encode()).hexdigest() for c in cards.values()}
    assert stored == plain
    first = client.post(f"{API}/{sid}/seat-cards", headers=admin)
    assert first.headers["cache-control"] == "no-store"
    url = client.post(f"{API}/{sid}/seat-cards/{deputies.names[0]}", headers=admin).json()["url"]
    assert re.match(rf"^http://testserver/hall/{sid}/card#[A-Z2-9-]{{24}}$", url)
    audit = session.exec(select(AuditEntry.action).where(AuditEntry.target == str(sid))).all()
    assert {"seat_card.issue", "seat_card.reissue"} <= set(audit)


def test_sign_in_vote_revoke_and_reissue_with_cards(
    client: TestClient, session: Session, admin: dict[str, str], deputies: Electorate
) -> None:
    names = deputies.names[:5]
    sid, ids, cards = _hall(client, admin, names)
    signin = f"{API}/{sid}/card/sign-in"
    r = client.post(signin, json={"code": cards[names[0]].lower().replace("-", " ")})
    assert r.status_code == 201 and r.json()["present"] == 1  # typed loosely, still read
    assert client.post(signin, json={"code": cards[names[0]]}).status_code == 409
    assert client.post(signin, json={"code": "AAAA-BBBB-CCCC-DDDD-EEEE"}).status_code == 403
    row = session.get(Attendance, (sid, deputies_id(session, names[0])))
    assert row is not None and (row.method, row.signed_in_by) == ("card", "")
    client.post(signin, json={"code": cards[names[1]]})
    client.post(signin, json={"code": cards[names[2]]})
    # Not open yet: the card is right but no ballot is taken.
    assert _ballot(client, sid, cards[names[0]], ids) == 409
    act(client, admin, sid, "open")
    assert _ballot(client, sid, cards[names[0]], ids) == 201
    assert _ballot(client, sid, cards[names[0]], ids) == 409  # one ballot per deputy
    # By card, then by password: still one ballot.
    assert _ballot(client, sid, cards[names[1]], ids) == 201
    r = client.post(
        f"{API}/{sid}/ballots",
        json={"choices": {str(i): "for" for i in ids}},
        headers=deputies.headers[1],
    )
    assert r.status_code == 409
    # In the hall only deputies signed in vote: a late arrival signs in first.
    r = client.post(
        f"{API}/{sid}/ballots",
        json={"choices": {str(i): "against" for i in ids}},
        headers=deputies.headers[3],
    )
    assert r.status_code == 409 and "signed in" in r.text
    assert _ballot(client, sid, cards[names[4]], ids) == 409  # by card, not signed in either
    r = client.post(f"{API}/{sid}/attendance", json={"username": names[3]}, headers=admin)
    assert r.status_code == 201
    # By password, then by card.
    vote(client, deputies.headers[3], sid, dict.fromkeys(ids, "against"))
    assert _ballot(client, sid, cards[names[3]], ids) == 409
    # A lost card is revoked: its code stops working; the reissued one works.
    r = client.post(f"{API}/{sid}/seat-cards/{names[2]}/revoke", headers=admin)
    assert r.status_code == 204
    assert (
        client.post(f"{API}/{sid}/seat-cards/{names[2]}/revoke", headers=admin).status_code == 409
    )
    assert _ballot(client, sid, cards[names[2]], ids) == 403
    new = client.post(f"{API}/{sid}/seat-cards/{names[2]}", headers=admin).json()
    SECRETS.add(new["code"])
    assert new["number"] == 2 and new["code"] != cards[names[2]]
    assert _ballot(client, sid, cards[names[2]], ids) == 403
    assert _ballot(client, sid, new["code"], ids, "abstain") == 201
    # Reissue revokes the old valid card itself.
    again = client.post(f"{API}/{sid}/seat-cards/{names[4]}", headers=admin).json()
    SECRETS.add(again["code"])
    assert _ballot(client, sid, cards[names[4]], ids) == 403
    listed = {c["username"]: c for c in client.get(f"{API}/{sid}/seat-cards", headers=admin).json()}
    assert (listed[names[2]]["number"], listed[names[2]]["revoked"]) == (2, 1)
    act(client, admin, sid, "close")
    assert _ballot(client, sid, again["code"], ids) == 409
    assert client.post(f"{API}/{sid}/seat-cards", headers=admin).status_code == 409
    res = client.get(f"{API}/{sid}/results", headers=admin).json()
    assert res["cast"] == 4 and res["voters_recorded"] == 4
    assert res["attendance"]["present"] == 3


def deputies_id(session: Session, username: str) -> int:
    from service.models import User

    user = session.exec(select(User).where(User.username == username)).one()
    return user.id or 0


def test_a_card_of_another_session_is_refused(
    client: TestClient, admin: dict[str, str], deputies: Electorate
) -> None:
    first, _, cards = _hall(client, admin, deputies.names[:3])
    second, ids, _ = _hall(client, admin, deputies.names[:3])
    for sid in (first, second):
        for name in deputies.names[:2]:
            client.post(f"{API}/{sid}/attendance", json={"username": name}, headers=admin)
    act(client, admin, second, "open")
    code = cards[deputies.names[0]]
    assert client.post(f"{API}/{second}/card/sign-in", json={"code": code}).status_code == 403
    assert _ballot(client, second, code, ids) == 403


def test_ballots_carry_nothing_of_the_cards(
    client: TestClient, session: Session, admin: dict[str, str], deputies: Electorate
) -> None:
    names = deputies.names[:4]
    sid, ids, cards = _hall(client, admin, names)
    for name in names:
        client.post(f"{API}/{sid}/card/sign-in", json={"code": cards[name]})
    act(client, admin, sid, "open")
    before = [c.model_dump() for c in session.exec(select(SeatCard).order_by(SeatCard.id))]
    for name in names[:3]:
        assert _ballot(client, sid, cards[name], ids) == 201
    session.expire_all()
    after = [c.model_dump() for c in session.exec(select(SeatCard).order_by(SeatCard.id))]
    assert after == before  # voting reads the card; it never writes it
    engine = session.get_bind()
    columns = {c["name"] for c in inspect(engine).get_columns("voting_ballot")}
    assert columns == {"id", "session_id", "receipt_hash"}
    card_columns = {c["name"] for c in inspect(engine).get_columns("voting_seat_card")}
    assert not card_columns & {"used_at", "voted_at", "ballot_id", "receipt_hash"}
    hashes = {c.code_hash for c in session.exec(select(SeatCard))}
    stored = set(session.exec(select(Ballot.receipt_hash)))
    assert not hashes & stored and len(stored) == 3
    voters = session.exec(select(Voter).where(Voter.session_id == sid)).all()
    assert len(voters) == 3


def test_refused_codes_are_rate_limited(
    make_app: Callable[..., FastAPI], session: Session, deputies: Electorate
) -> None:
    app = make_app(rate_limit="3/minute")
    with TestClient(app) as client:
        admin = headers_for(client, session, Role.admin, "admin2")
        make_units(session)
        sid, _, cards = _hall(client, admin, deputies.names[:3])
        url = f"{API}/{sid}/card/sign-in"
        codes = [client.post(url, json={"code": f"WRONG-{i}"}).status_code for i in range(5)]
        assert codes[:3] == [403, 403, 403] and codes[3:] == [429, 429]
        # Right codes are never counted nor refused: deputies behind the hall's one address
        # are not locked out by someone else's typos.
        for name in deputies.names[:3]:
            assert client.post(url, json={"code": cards[name]}).status_code == 201


def test_seat_card_routes_are_for_admins(
    client: TestClient, session: Session, admin: dict[str, str], deputies: Electorate
) -> None:
    sid, _, _ = _hall(client, admin, deputies.names[:3])
    for method, path in (
        ("post", f"{API}/{sid}/seat-cards"),
        ("get", f"{API}/{sid}/seat-cards"),
        ("post", f"{API}/{sid}/seat-cards/{deputies.names[0]}"),
        ("post", f"{API}/{sid}/seat-cards/{deputies.names[0]}/revoke"),
    ):
        assert getattr(client, method)(path).status_code == 401
        assert getattr(client, method)(path, headers=deputies.headers[0]).status_code == 403
    r = client.post(f"{API}/{sid}/seat-cards/nobody", headers=admin)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["path", "username"]
    assert client.post(f"{API}/{sid}/card/sign-in", json={}).status_code == 422
    assert client.post(f"{API}/999/card/sign-in", json={"code": "X"}).status_code == 404


def test_a_card_of_a_deputy_taken_off_the_electorate_is_refused(
    client: TestClient, admin: dict[str, str], deputies: Electorate
) -> None:
    sid, _, cards = _hall(client, admin, deputies.names[:3])
    r = client.patch(f"{API}/{sid}", json={"deputy_usernames": deputies.names[:2]}, headers=admin)
    assert r.status_code == 200, r.text
    url = f"{API}/{sid}/card/sign-in"
    assert client.post(url, json={"code": cards[deputies.names[2]]}).status_code == 403
    assert client.post(url, json={"code": cards[deputies.names[0]]}).status_code == 201
