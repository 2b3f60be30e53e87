"""The big screen's state (GET /api/v1/voting-sessions/{id}/hall): attendance before opening,
turnout while open, the counts once a hall session closes; public, uncached, cheap, and free
of anything that names a deputy."""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlmodel import Session, select

from service.models import User
from surveys.voting.hall_models import Attendance
from tests.surveys.voting.conftest import Electorate
from tests.surveys.voting.factories import (
    act,
    create_projects,
    create_session,
    session_payload,
    vote,
)

API = "/api/v1/voting-sessions"


def _sign_in(session: Session, sid: int, names: list[str]) -> None:
    """Mark deputies present (the table the attendance routes write)."""
    for user in session.exec(select(User).where(User.username.in_(names))):  # type: ignore[attr-defined]
        assert user.id is not None
        session.add(Attendance(session_id=sid, user_id=user.id, signed_in_by="admin"))
    session.commit()


def _hall(
    client: TestClient, admin: dict[str, str], deputies: Electorate, **overrides: Any
) -> tuple[int, list[int]]:
    ids = create_projects(client, admin, [1_000_000, 1_500_000, 800_000, 700_000])
    payload = session_payload(ids, deputies.names, budget_cap=2_500_000, mode="hall")
    payload.update(overrides)
    return create_session(client, admin, payload), ids


def _screen(client: TestClient, sid: int) -> dict[str, Any]:
    r = client.get(f"{API}/{sid}/hall")
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    return dict(r.json())


# Seven deputies, four candidates; every ballot marks every candidate.
PLAN = [
    ("for", "for", "against", "for"),
    ("for", "for", "for", "abstain"),
    ("for", "against", "for", "abstain"),
    ("for", "for", "abstain", "against"),
    ("against", "for", "for", "for"),
]


def test_before_opening_shows_seated_present_and_quorum(
    client: TestClient, session: Session, admin: dict[str, str], deputies: Electorate
) -> None:
    sid, _ = _hall(client, admin, deputies)
    state = _screen(client, sid)
    assert state["state"] == "draft" and state["mode"] == "hall"
    # Seven seated, the hall default of two thirds: ceil(14/3) = 5 must be present.
    assert (state["seated"], state["present"]) == (7, 0)
    assert state["quorum"] == "2/3" and state["quorum_required"] == math.ceil(7 * 2 / 3) == 5
    assert state["quorum_met"] is False
    assert state["cast"] is None and state["candidates"] == [] and state["counted"] is False
    _sign_in(session, sid, deputies.names[:4])
    assert (_screen(client, sid)["present"], _screen(client, sid)["quorum_met"]) == (4, False)
    _sign_in(session, sid, deputies.names[4:5])
    state = _screen(client, sid)
    assert (state["present"], state["quorum_met"]) == (5, True)


def test_while_open_counts_ballots_cast_and_not_yet_cast(
    client: TestClient, session: Session, admin: dict[str, str], deputies: Electorate
) -> None:
    sid, ids = _hall(client, admin, deputies)
    _sign_in(session, sid, deputies.names[:6])
    act(client, admin, sid, "open")
    state = _screen(client, sid)
    # 未投 counts the deputies present who have not voted yet; the absent one is 缺席.
    assert state["state"] == "open" and (state["cast"], state["not_cast"]) == (0, 6)
    assert (state["present"], state["absent"], state["present_at_opening"]) == (6, 1, 6)
    for i, marks in enumerate(PLAN[:3]):
        vote(client, deputies.headers[i], sid, dict(zip(ids, marks, strict=True)))
        state = _screen(client, sid)
        turnout = client.get(f"{API}/{sid}/turnout").json()
        assert state["cast"] == turnout["cast"] == i + 1
        assert state["not_cast"] == 6 - (i + 1)
    # No count is shown while the vote runs.
    assert state["candidates"] == [] and state["counted"] is False
    assert state["ballots_electronic"] == 3


def test_after_closing_the_counts_match_the_ballots_cast(
    client: TestClient, session: Session, admin: dict[str, str], deputies: Electorate
) -> None:
    sid, ids = _hall(client, admin, deputies)
    _sign_in(session, sid, deputies.names[:6])
    act(client, admin, sid, "open")
    for i, marks in enumerate(PLAN):
        vote(client, deputies.headers[i], sid, dict(zip(ids, marks, strict=True)))
    act(client, admin, sid, "close")
    state = _screen(client, sid)
    assert state["state"] == "closed" and state["counted"] is True
    assert (state["cast"], state["voted"], state["not_cast"]) == (5, 5, 1)
    assert (state["present"], state["absent"]) == (6, 1)
    assert state["choices"] == ["for", "against", "abstain"]
    # Recount from the plan: a candidates x choices matrix, 未按 = present - marks.
    matrix = np.array(PLAN)
    expected = {
        pid: {c: int((matrix[:, j] == c).sum()) for c in ("for", "against", "abstain")}
        for j, pid in enumerate(ids)
    }
    rows = {row["project_id"]: row for row in state["candidates"]}
    assert set(rows) == set(ids)
    for pid in ids:
        assert rows[pid]["counts"] == expected[pid]
        assert rows[pid]["not_voted"] == 6 - sum(expected[pid].values()) == 1
    # Passed, selected, budget and pass line are the kept result's (the results API's).
    kept = client.get(f"{API}/{sid}/results", headers=admin).json()
    assert [r["project_id"] for r in state["candidates"]] == [
        p["project_id"] for p in kept["projects"]
    ]
    for p in kept["projects"]:
        row = rows[p["project_id"]]
        assert (row["passed"], row["selected"], row["rank"]) == (
            p["passed"],
            p["selected"],
            p["rank"],
        )
        assert row["counts"]["for"] == p["for"]
    assert state["threshold_votes"] == kept["threshold_votes"] == 7 // 2 + 1
    assert state["budget_cap"] == 2_500_000 and state["budget_used"] == kept["budget_used"]
    budgets = dict(zip(ids, [1_000_000, 1_500_000, 800_000, 700_000], strict=True))
    assert state["budget_used"] == sum(budgets[pid] for pid in ids if rows[pid]["selected"])
    passed = {pid for pid in ids if expected[pid]["for"] >= 4}
    assert {pid for pid in ids if rows[pid]["passed"]} == passed
    # Attendance stays on screen after the close.
    assert state["seated"] == 7


def test_ties_are_shown_in_words(
    client: TestClient, session: Session, admin: dict[str, str], deputies: Electorate
) -> None:
    # Budget for one of two equal-vote candidates: the tie decides, and is explained.
    ids = create_projects(client, admin, [1_000_000, 1_000_000])
    payload = session_payload(ids, deputies.names, budget_cap=1_000_000, mode="hall")
    sid = create_session(client, admin, payload)
    _sign_in(session, sid, deputies.names[:5])
    act(client, admin, sid, "open")
    for h in deputies.headers[:5]:
        vote(client, h, sid, {ids[0]: "for", ids[1]: "for"})
    act(client, admin, sid, "close")
    state = _screen(client, sid)
    kept = client.get(f"{API}/{sid}/results", headers=admin).json()
    assert kept["ties"], kept
    assert [t["project_ids"] for t in state["ties"]] == [t["project_ids"] for t in kept["ties"]]
    assert (
        state["ties"][0]["text"] == kept["ties"][0]["text"] and state["ties"][0]["votes_for"] == 5
    )
    assert sum(1 for r in state["candidates"] if r["selected"]) == 1


def test_a_remote_session_shows_counts_only_once_published(
    client: TestClient, admin: dict[str, str], deputies: Electorate
) -> None:
    ids = create_projects(client, admin, [100, 200])
    sid = create_session(client, admin, session_payload(ids, deputies.names))
    act(client, admin, sid, "open")
    vote(client, deputies.headers[0], sid, {ids[0]: "for", ids[1]: "against"})
    state = _screen(client, sid)
    # No sign-in for a remote vote: everyone seated counts as there, no quorum.
    assert (state["seated"], state["present"], state["quorum"], state["quorum_met"]) == (
        7,
        7,
        None,
        True,
    )
    act(client, admin, sid, "close")
    state = _screen(client, sid)
    assert state["counted"] is False and state["candidates"] == [] and state["cast"] == 1
    act(client, admin, sid, "publish")
    state = _screen(client, sid)
    assert state["counted"] is True
    assert {r["project_id"]: r["counts"]["for"] for r in state["candidates"]} == {
        ids[0]: 1,
        ids[1]: 0,
    }


def test_public_no_deputy_data_and_404(
    client: TestClient, session: Session, admin: dict[str, str], deputies: Electorate
) -> None:
    sid, ids = _hall(client, admin, deputies)
    _sign_in(session, sid, deputies.names[:5])
    act(client, admin, sid, "open")
    for i, marks in enumerate(PLAN[:2]):
        vote(client, deputies.headers[i], sid, dict(zip(ids, marks, strict=True)))
    seen = [json.dumps(_screen(client, sid), ensure_ascii=False)]
    act(client, admin, sid, "close")
    seen.append(json.dumps(_screen(client, sid), ensure_ascii=False))
    users = list(session.exec(select(User).where(User.username.in_(deputies.names))))  # type: ignore[attr-defined]
    for text in seen:
        for user in users:
            assert user.username not in text and user.display_name not in text
        # No receipt and no list of deputies (the rule in words may speak of deputies).
        assert "receipt" not in text and '"deputies"' not in text and '"deputy' not in text
    # Anonymous, a deputy and an admin see the same screen.
    assert client.get(f"{API}/{sid}/hall", headers=deputies.headers[6]).json() == json.loads(
        seen[1]
    )
    assert client.get(f"{API}/{sid}/hall", headers=admin).json() == json.loads(seen[1])
    assert client.get(f"{API}/999/hall").status_code == 404
    assert client.get(f"{API}/abc/hall").status_code == 422


@contextmanager
def _statements(client: TestClient) -> Iterator[Counter[str]]:
    engine = client.app.state.engine  # type: ignore[attr-defined]
    seen: Counter[str] = Counter()

    def count(*args: Any) -> None:
        seen[args[2].split()[0].upper()] += 1

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_a_poll_is_a_few_queries(
    client: TestClient, session: Session, admin: dict[str, str], deputies: Electorate
) -> None:
    sid, ids = _hall(client, admin, deputies)
    _sign_in(session, sid, deputies.names[:5])
    for action in (None, "open", "close"):
        if action:
            act(client, admin, sid, action)
        if action == "open":
            vote(client, deputies.headers[0], sid, dict(zip(ids, PLAN[0], strict=True)))
        with _statements(client) as seen:
            _screen(client, sid)
        assert seen["SELECT"] <= 4, (action, seen)
        assert set(seen) <= {"SELECT", "BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"}, seen


def test_a_tie_at_the_cut_line_then_its_run_off(
    client: TestClient, session: Session, admin: dict[str, str], deputies: Electorate
) -> None:
    # One place (max_selected 1), two candidates with 5 "for" each: a run-off decides.
    ids = create_projects(client, admin, [500_000, 500_000, 400_000])
    payload = session_payload(
        ids, deputies.names, budget_cap=2_000_000, max_selected=1, mode="hall", on_tie="runoff"
    )
    sid = create_session(client, admin, payload)
    _sign_in(session, sid, deputies.names[:6])
    act(client, admin, sid, "open")
    for h in deputies.headers[:5]:
        vote(client, h, sid, {ids[0]: "for", ids[1]: "for", ids[2]: "against"})
    act(client, admin, sid, "close")
    state = _screen(client, sid)
    assert state["cut_tie"]["pending"] is True
    assert sorted(state["cut_tie"]["project_ids"]) == sorted(ids[:2])
    rows = {r["project_id"]: r for r in state["candidates"]}
    assert [rows[p]["pending"] for p in ids] == [True, True, False]
    assert not any(r["selected"] for r in state["candidates"])
    # The run-off: same electorate, attendance carried over; 4 to 2 for the second.
    r = client.post(f"{API}/{sid}/runoff", headers=admin)
    assert r.status_code == 201, r.text
    child = int(r.json()["id"])
    assert _screen(client, child)["present"] == 6
    act(client, admin, child, "open")
    for i, h in enumerate(deputies.headers[:6]):
        first, second = ("against", "for") if i < 4 else ("for", "against")
        vote(client, h, child, {ids[0]: first, ids[1]: second})
    act(client, admin, child, "close")
    run_off = _screen(client, child)
    assert {r["project_id"]: r["counts"]["for"] for r in run_off["candidates"]} == {
        ids[0]: 2,
        ids[1]: 4,
    }
    parent = _screen(client, sid)
    assert parent["cut_tie"] is None or parent["cut_tie"]["pending"] is False
    assert [r["selected"] for r in parent["candidates"] if r["project_id"] == ids[1]] == [True]
    assert [(r["session_id"], r["selected"]) for r in parent["rounds"]] == [(child, [ids[1]])]
    # The decided view is the results API's (the same function, runoff.with_rounds).
    kept = client.get(f"{API}/{sid}/results", headers=admin).json()
    assert [p["selected"] for p in kept["projects"]] == [
        r["selected"] for r in parent["candidates"]
    ]
