"""The hall's attendance (应到 / 实到) and quorum: marking deputies present, the boundary of
the quorum at opening, and the attendance frozen in the configuration, its hash and the
result."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from service.audit import AuditEntry
from service.models import Role
from surveys.voting import hall, rules
from surveys.voting.models import VotingSession
from tests.factories import headers_for
from tests.surveys.voting.conftest import Electorate
from tests.surveys.voting.factories import (
    act,
    create_projects,
    create_session,
    make_deputies,
    session_payload,
    vote,
)

API = "/api/v1/voting-sessions"


def _hall_session(
    client: TestClient, admin: dict[str, str], names: list[str], **kw: object
) -> tuple[int, list[int]]:
    ids = create_projects(client, admin, [1_000_000, 1_500_000, 800_000])
    payload = session_payload(ids, names, mode="hall", **kw)
    return create_session(client, admin, payload), ids


def _mark(client: TestClient, admin: dict[str, str], sid: int, name: str) -> dict[str, object]:
    r = client.post(f"{API}/{sid}/attendance", json={"username": name}, headers=admin)
    assert r.status_code == 201, r.text
    return dict(r.json())


def test_quorum_is_validated_and_defaults_to_two_thirds_in_the_hall(
    client: TestClient, admin: dict[str, str], deputies: Electorate
) -> None:
    ids = create_projects(client, admin, [100])
    for bad in ("two thirds", "3/2", "0", "1/0", "-1/3"):
        r = client.post(
            API,
            json=session_payload(ids, deputies.names, mode="hall", quorum=bad),
            headers=admin,
        )
        assert r.status_code == 422, (bad, r.text)
        assert r.json()["detail"][0]["loc"] == ["body", "quorum"]
    hall_id = create_session(client, admin, session_payload(ids, deputies.names, mode="hall"))
    remote_id = create_session(client, admin, session_payload(ids, deputies.names))
    half = create_session(
        client, admin, session_payload(ids, deputies.names, mode="hall", quorum="0.5")
    )
    got = [client.get(f"{API}/{i}").json()["quorum"] for i in (hall_id, remote_id, half)]
    assert got == ["2/3", None, "1/2"]  # exact: 0.5 is kept as 1/2
    r = client.patch(f"{API}/{hall_id}", json={"quorum": "half"}, headers=admin)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "quorum"]
    r = client.patch(f"{API}/{hall_id}", json={"quorum": "3/4"}, headers=admin)
    assert r.status_code == 200 and r.json()["quorum"] == "3/4"


def test_attendance_marks_counts_undo_and_refusals(
    client: TestClient, session: Session, admin: dict[str, str], deputies: Electorate
) -> None:
    sid, _ = _hall_session(client, admin, deputies.names[:6])
    assert client.get(f"{API}/{sid}/attendance").json() == {
        "seated": 6,
        "present": 0,
        "quorum": "2/3",
        "quorum_required": 4,
        "quorum_met": False,
        "present_at_opening": None,
        "deputies": None,
    }
    out = _mark(client, admin, sid, deputies.names[0])
    assert (out["seated"], out["present"], out["quorum_required"]) == (6, 1, 4)
    again = client.post(
        f"{API}/{sid}/attendance", json={"username": deputies.names[0]}, headers=admin
    )
    assert again.status_code == 409
    outsider = client.post(
        f"{API}/{sid}/attendance", json={"username": deputies.names[6]}, headers=admin
    )
    assert outsider.status_code == 422 and outsider.json()["detail"][0]["loc"] == [
        "body",
        "username",
    ]
    nobody = client.post(f"{API}/{sid}/attendance", json={"username": "nobody"}, headers=admin)
    assert nobody.status_code == 422
    # Only admins mark or see who is there; the counts are public.
    deputy = deputies.headers[1]
    r = client.post(f"{API}/{sid}/attendance", json={"username": deputies.names[1]}, headers=deputy)
    assert r.status_code == 403
    assert client.post(f"{API}/{sid}/attendance", json={"username": "x"}).status_code == 401
    assert client.get(f"{API}/{sid}/attendance?detail=true").status_code == 401
    assert client.get(f"{API}/{sid}/attendance?detail=true", headers=deputy).status_code == 403
    listed = client.get(f"{API}/{sid}/attendance?detail=true", headers=admin).json()["deputies"]
    assert [(d["username"], d["method"]) for d in listed] == [(deputies.names[0], "officer")]
    # Undo a wrong mark, before opening.
    r = client.delete(f"{API}/{sid}/attendance/{deputies.names[0]}", headers=admin)
    assert r.status_code == 200 and r.json()["present"] == 0
    assert (
        client.delete(f"{API}/{sid}/attendance/{deputies.names[0]}", headers=admin).status_code
        == 409
    )
    actions = session.exec(select(AuditEntry.action).where(AuditEntry.target == str(sid))).all()
    assert actions.count("attendance.mark") == 1 and actions.count("attendance.undo") == 1
    assert (
        client.post(f"{API}/999/attendance", json={"username": "x"}, headers=admin).status_code
        == 404
    )


def test_late_arrivals_sign_in_while_open_but_not_after_close(
    client: TestClient, admin: dict[str, str], deputies: Electorate
) -> None:
    sid, ids = _hall_session(client, admin, deputies.names[:6])
    for name in deputies.names[:4]:
        _mark(client, admin, sid, name)
    act(client, admin, sid, "open")
    late = _mark(client, admin, sid, deputies.names[4])
    assert (late["present"], late["quorum_met"]) == (5, True)
    view = client.get(f"{API}/{sid}/attendance").json()
    assert (view["present"], view["present_at_opening"]) == (5, 4)
    undo = client.delete(f"{API}/{sid}/attendance/{deputies.names[4]}", headers=admin)
    assert undo.status_code == 409  # the attendance at opening stands
    vote(client, deputies.headers[0], sid, dict.fromkeys(ids, "for"))
    act(client, admin, sid, "close")
    r = client.post(f"{API}/{sid}/attendance", json={"username": deputies.names[5]}, headers=admin)
    assert r.status_code == 409
    res = client.get(f"{API}/{sid}/results", headers=admin).json()
    # What the result states is the attendance at opening, not the late sign-in.
    assert res["attendance"] == {
        "seated": 6,
        "present": 4,
        "quorum": "2/3",
        "quorum_required": 4,
        "quorum_met": True,
    }
    assert res["mode"] == "hall" and (res["ballots_electronic"], res["cast"]) == (1, 1)


@pytest.mark.parametrize(("seated", "quorum"), [(300, "2/3"), (7, "2/3"), (10, "0.6")])
def test_quorum_boundary_at_opening(
    client: TestClient,
    session: Session,
    admin: dict[str, str],
    seated: int,
    quorum: str,
) -> None:
    names = [u.username for u in make_deputies(session, seated, prefix="hd")]
    sid, _ = _hall_session(client, admin, names, quorum=quorum)
    # Recomputed independently of hall.quorum_required: the least whole number n with
    # n / seated >= quorum, found by counting up.
    share = Fraction(quorum)
    need = next(n for n in range(seated + 1) if Fraction(n, seated) >= share)
    assert need == math.ceil(share * seated)
    if (seated, quorum) == (300, "2/3"):
        assert need == 200
    vs = session.get(VotingSession, sid)
    assert vs is not None
    for name in names[: need - 1]:
        hall.mark_present(session, vs=vs, username=name, actor="admin")
    session.commit()
    r = client.post(f"{API}/{sid}/open", headers=admin)
    assert r.status_code == 409, r.text
    detail = r.json()["detail"]
    assert f"实到 {need - 1} 人，不足法定人数 {need}" in detail["message"]
    assert f"Present: {need - 1}, below the quorum of {need}" in detail["message"]
    assert (detail["present"], detail["quorum_required"], detail["seated"]) == (
        need - 1,
        need,
        seated,
    )
    assert client.get(f"{API}/{sid}").json()["state"] == "draft"
    _mark(client, admin, sid, names[need - 1])  # exactly the quorum: it opens
    opened = act(client, admin, sid, "open")
    session.expire_all()
    vs = session.get(VotingSession, sid)
    assert vs is not None and vs.frozen_config is not None
    assert vs.frozen_config["attendance"] == {
        "seated": seated,
        "present": need,
        "quorum": str(share),
        "quorum_required": need,
        "quorum_met": True,
    }
    assert opened["config_hash"] == rules.config_hash(vs.frozen_config)
    # The attendance is part of what is hashed: another attendance, another hash.
    other = dict(
        vs.frozen_config, attendance=dict(vs.frozen_config["attendance"], present=need + 1)
    )
    assert rules.config_hash(other) != opened["config_hash"]


def test_remote_sessions_need_no_sign_in_unless_given_a_quorum(
    client: TestClient, session: Session, admin: dict[str, str], deputies: Electorate
) -> None:
    ids = create_projects(client, admin, [100])
    plain = create_session(client, admin, session_payload(ids, deputies.names))
    act(client, admin, plain, "open")
    vs = session.get(VotingSession, plain)
    assert vs is not None and vs.frozen_config is not None
    assert "attendance" not in vs.frozen_config and "quorum" not in vs.frozen_config
    ids2 = create_projects(client, admin, [100])
    strict = create_session(client, admin, session_payload(ids2, deputies.names, quorum="1/2"))
    r = client.post(f"{API}/{strict}/open", headers=admin)
    assert r.status_code == 409 and "不足法定人数 4" in r.json()["detail"]["message"]
    for name in deputies.names[:4]:
        _mark(client, admin, strict, name)
    assert act(client, admin, strict, "open")["state"] == "open"


def test_attendance_routes_need_an_admin_session_that_exists(
    client: TestClient, session: Session, admin: dict[str, str]
) -> None:
    evaluator = headers_for(client, session, Role.evaluator, "eva")
    r = client.delete(f"{API}/1/attendance/x", headers=evaluator)
    assert r.status_code == 403
    assert client.delete(f"{API}/1/attendance/x").status_code == 401
    assert client.get(f"{API}/999/attendance").status_code == 404
