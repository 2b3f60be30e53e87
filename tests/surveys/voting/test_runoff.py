"""Run-offs: a tie at the cut line decided by another vote among the tied, end to end, and the
cut line itself checked against every order of the tied candidates."""

from __future__ import annotations

import itertools
import random

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from service.audit import AuditEntry
from service.models import User
from surveys.voting import rules, runoff
from surveys.voting.hall_models import Attendance
from surveys.voting.models import Project, ProjectStatus, SessionDeputy, VotingSession
from surveys.voting.results import recount
from tests.surveys.voting.conftest import Electorate
from tests.surveys.voting.factories import (
    act,
    create_projects,
    create_session,
    session_payload,
    vote,
)

API = "/api/v1/voting-sessions"


def tied_session(
    client: TestClient, admin: dict[str, str], deputies: Electorate, **kw: object
) -> tuple[int, list[int]]:
    """Four projects, two places: P1 6 "for"; P2 and P3 5 each (P2 with one "against", so the
    automatic rule would pick P3); P4 2. Seven deputies, the seventh does not vote."""
    ids = create_projects(client, admin, [1_000_000, 1_500_000, 800_000, 700_000])
    payload = session_payload(ids, deputies.names, budget_cap=5_000_000, max_selected=2, **kw)
    sid = create_session(client, admin, payload)
    act(client, admin, sid, "open")
    p1, p2, p3, p4 = ids
    plan = [
        {p1: "for", p2: "for", p3: "for", p4: "for"},
        {p1: "for", p2: "for", p3: "for", p4: "for"},
        {p1: "for", p2: "for", p3: "for", p4: "against"},
        {p1: "for", p2: "for", p3: "for", p4: "abstain"},
        {p1: "for", p2: "for", p3: "for", p4: "abstain"},
        {p1: "for", p2: "against", p3: "abstain", p4: "abstain"},
    ]
    for i, choices in enumerate(plan):
        vote(client, deputies.headers[i], sid, choices)
    act(client, admin, sid, "close")
    return sid, ids


def _result(client: TestClient, admin: dict[str, str], sid: int) -> dict[str, object]:
    r = client.get(f"{API}/{sid}/results", headers=admin)
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_runoff_between_two_tied_candidates_end_to_end(
    client: TestClient, session: Session, admin: dict[str, str], deputies: Electorate
) -> None:
    sid, (p1, p2, p3, p4) = tied_session(client, admin, deputies, on_tie="runoff")
    # Five deputies signed in for the first round; the run-off carries them over.
    users = {u.username: u for u in session.exec(select(User))}
    for name in deputies.names[:5]:
        session.add(Attendance(session_id=sid, user_id=users[name].id or 0, signed_in_by="admin"))
    session.commit()

    res = _result(client, admin, sid)
    assert res["on_tie"] == "runoff"
    assert res["cut_tie"] == {
        "project_ids": [p3, p2],
        "votes_for": 5,
        "places": 1,  # two places, P1 took one
        "budget_left": 4_000_000,
        "pending": True,
    }
    rows = {p["project_id"]: p for p in res["projects"]}  # type: ignore[attr-defined]
    assert [(rows[p]["selected"], rows[p]["reason"]) for p in (p1, p2, p3, p4)] == [
        (True, "selected"),
        (False, "runoff"),
        (False, "runoff"),
        (False, "below_threshold"),
    ]
    assert res["ties"] == [] and res["budget_used"] == 1_000_000
    assert "再次投票" in str(res["rule"]) and "run-off" in str(res["rule_en"])
    # Not publishable while the tie awaits its run-off.
    assert client.post(f"{API}/{sid}/publish", headers=admin).status_code == 409

    r = client.post(f"{API}/{sid}/runoff", headers=admin)
    assert r.status_code == 201, r.text
    ro = r.json()
    rid = ro["id"]
    assert ro["runoff_of_id"] == sid and ro["state"] == "draft" and ro["kind"] == "selection"
    assert ro["mode"] == "remote" and ro["on_tie"] == "runoff"
    assert [p["project_id"] for p in ro["projects"]] == [p2, p3]  # the ballot's order
    assert (ro["max_selected"], ro["budget_cap"], ro["max_for_per_ballot"]) == (1, 4_000_000, 1)
    assert ro["threshold"] == "majority_of_all" and ro["electorate"] == 7
    assert "第2轮" in ro["title"]
    electorate = session.exec(select(SessionDeputy.user_id).where(SessionDeputy.session_id == rid))
    assert sorted(electorate) == sorted(users[n].id or 0 for n in deputies.names)
    carried = session.exec(select(Attendance).where(Attendance.session_id == rid)).all()
    assert sorted(a.user_id for a in carried) == sorted(
        users[n].id or 0 for n in deputies.names[:5]
    )
    assert {a.method for a in carried} == {"carried"}
    entry = session.exec(select(AuditEntry).where(AuditEntry.action == "voting_session.runoff"))
    assert [e.target for e in entry] == [str(rid)]
    # One run-off per tie.
    assert client.post(f"{API}/{sid}/runoff", headers=admin).status_code == 409

    act(client, admin, rid, "open")
    assert client.post(f"{API}/{sid}/publish", headers=admin).status_code == 409  # not closed
    for i, pick in enumerate([p3, p3, p3, p3, p2, p2]):
        vote(
            client,
            deputies.headers[i],
            rid,
            {p2: "for" if pick == p2 else "against", p3: "for" if pick == p3 else "against"},
        )
    act(client, admin, rid, "close")
    assert client.post(f"{API}/{rid}/publish", headers=admin).status_code == 409  # with its parent

    ro_res = _result(client, admin, rid)
    assert ro_res["threshold"] == "none" and ro_res["cut_tie"] is None
    assert "不再适用通过门槛" in str(ro_res["rule"])
    res = _result(client, admin, sid)
    assert res["rounds"] == [
        {
            "session_id": rid,
            "project_ids": [p3, p2],
            "places": 1,
            "selected": [p3],
            "counts": {
                str(p3): {"for": 4, "against": 2, "abstain": 0},
                str(p2): {"for": 2, "against": 4, "abstain": 0},
            },
        }
    ]
    assert res["cut_tie"] is None and res["ties"] == []
    assert [(p["project_id"], p["selected"]) for p in res["projects"]] == [  # type: ignore[attr-defined]
        (p1, True),
        (p3, True),
        (p2, False),
        (p4, False),
    ]
    assert res["budget_used"] == 1_800_000

    act(client, admin, sid, "publish")
    public = client.get(f"{API}/{sid}/results").json()
    assert public["state"] == "published" and public["rounds"] == res["rounds"]
    assert client.get(f"{API}/{rid}").json()["state"] == "published"
    assert client.get(f"{API}/{rid}/results").status_code == 200
    status = {p.id: p.status for p in session.exec(select(Project))}
    assert status[p1] == status[p3] == ProjectStatus.selected
    assert status[p2] == status[p4] == ProjectStatus.not_selected
    # The first round's count is kept as counted; a recount agrees with it.
    parent = session.get(VotingSession, sid)
    assert parent is not None and recount(session, vs=parent)[0]


def test_a_runoff_that_ties_again_has_its_own_runoff(
    client: TestClient, admin: dict[str, str], deputies: Electorate
) -> None:
    sid, (p1, p2, p3, p4) = tied_session(client, admin, deputies, on_tie="runoff")
    rid = client.post(f"{API}/{sid}/runoff", headers=admin).json()["id"]
    act(client, admin, rid, "open")
    for i in range(6):  # 3 to 3
        pick = p2 if i % 2 else p3
        vote(
            client, deputies.headers[i], rid, {pick: "for"} | {p2 if pick == p3 else p3: "against"}
        )
    act(client, admin, rid, "close")
    res = _result(client, admin, sid)
    assert res["cut_tie"]["pending"] is True  # type: ignore[index]
    assert len(res["rounds"]) == 1  # type: ignore[arg-type]
    # The parent's tie is now the run-off's to settle.
    assert client.post(f"{API}/{sid}/runoff", headers=admin).status_code == 409
    r2 = client.post(f"{API}/{rid}/runoff", headers=admin)
    assert r2.status_code == 201, r2.text
    r2id = r2.json()["id"]
    assert r2.json()["runoff_of_id"] == rid and "第3轮" in r2.json()["title"]
    act(client, admin, r2id, "open")
    for i in range(5):
        vote(client, deputies.headers[i], r2id, {p2: "for", p3: "against"})
    act(client, admin, r2id, "close")
    res = _result(client, admin, sid)
    assert [r["session_id"] for r in res["rounds"]] == [rid, r2id]  # type: ignore[attr-defined]
    assert res["cut_tie"] is None
    assert {p["project_id"] for p in res["projects"] if p["selected"]} == {p1, p2}  # type: ignore[attr-defined]
    act(client, admin, sid, "publish")
    assert client.get(f"{API}/{r2id}").json()["state"] == "published"


def test_the_automatic_rule_when_on_tie_is_rule(
    client: TestClient, admin: dict[str, str], deputies: Electorate
) -> None:
    sid, (p1, p2, p3, p4) = tied_session(client, admin, deputies)
    res = _result(client, admin, sid)
    assert res["on_tie"] == "rule"
    assert res["cut_tie"] == {
        "project_ids": [p3, p2],
        "votes_for": 5,
        "places": 1,
        "budget_left": 4_000_000,
        "pending": False,
    }
    assert res["ties"] == [
        {
            "project_ids": [p3, p2],
            "votes_for": 5,
            "settled_by": ["fewer_against"],
            "text": "反对票少者优先",
            "text_en": "fewer votes against first",
        }
    ]
    assert {p["project_id"] for p in res["projects"] if p["selected"]} == {p1, p3}  # type: ignore[attr-defined]
    assert "再次投票" not in str(res["rule"])
    r = client.post(f"{API}/{sid}/runoff", headers=admin)
    assert r.status_code == 409 and "tie" in r.json()["detail"]
    act(client, admin, sid, "publish")


def test_no_runoff_without_a_tie_or_before_the_close(
    client: TestClient, admin: dict[str, str], deputies: Electorate
) -> None:
    ids = create_projects(client, admin, [1_000_000, 2_000_000])
    payload = session_payload(ids, deputies.names, max_selected=1, on_tie="runoff")
    sid = create_session(client, admin, payload)
    assert client.post(f"{API}/{sid}/runoff", headers=admin).status_code == 409  # a draft
    act(client, admin, sid, "open")
    assert client.post(f"{API}/{sid}/runoff", headers=admin).status_code == 409  # open
    for h in deputies.headers[:5]:
        vote(client, h, sid, {ids[0]: "for", ids[1]: "against"})
    act(client, admin, sid, "close")
    r = client.post(f"{API}/{sid}/runoff", headers=admin)
    assert r.status_code == 409 and "No tie" in r.json()["detail"]
    assert _result(client, admin, sid)["cut_tie"] is None
    # Who may ask: an admin only; an unknown session is 404.
    assert client.post(f"{API}/{sid}/runoff").status_code == 401
    assert client.post(f"{API}/{sid}/runoff", headers=deputies.headers[0]).status_code == 403
    assert client.post(f"{API}/999999/runoff", headers=admin).status_code == 404
    assert client.post(f"{API}/abc/runoff", headers=admin).status_code == 422


def test_on_tie_is_validated_and_frozen(
    client: TestClient, admin: dict[str, str], deputies: Electorate
) -> None:
    ids = create_projects(client, admin, [100, 200])
    bad = session_payload(ids, deputies.names, on_tie="coin")
    r = client.post(API, json=bad, headers=admin)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "on_tie"]
    sid = create_session(client, admin, session_payload(ids, deputies.names))
    r = client.patch(f"{API}/{sid}", json={"on_tie": "runoff"}, headers=admin)
    assert r.status_code == 200 and r.json()["on_tie"] == "runoff"
    before = client.get(f"{API}/{sid}").json()
    act(client, admin, sid, "open")
    assert client.get(f"{API}/{sid}").json()["config_hash"] != before["config_hash"]
    r = client.patch(f"{API}/{sid}", json={"on_tie": "rule"}, headers=admin)
    assert r.status_code == 409


# --- the cut line, against every order of the tied (pure) ------------------------------------


def _greedy(order: list[rules.Candidate[int]], config: rules.RuleConfig) -> set[int]:
    """Select down a given order within the budget and places (skip what does not fit)."""
    left, chosen = config.budget, set[int]()
    for c in order:
        if config.max_selected is not None and len(chosen) >= config.max_selected:
            break
        if c.cost <= left:
            chosen.add(c.id)
            left -= c.cost
    return chosen


@pytest.mark.parametrize("seed", range(40))
def test_a_decided_runoff_gives_the_greedy_selection_of_its_order(seed: int) -> None:
    rng = random.Random(seed)
    n = rng.randint(3, 7)
    cands = [
        rules.Candidate(i, rng.choice([1, 2, 3, 4]), rng.choice([4, 5, 5, 6]), rng.randint(0, 2))
        for i in range(1, n + 1)
    ]
    config = rules.RuleConfig(
        budget=rng.randint(3, 10),
        threshold=rules.Threshold(rules.ThresholdKind.none),
        max_selected=rng.choice([None, 2, 3]),
    )
    held = runoff.decide(cands, config, electorate=9, cast=9, on_tie="runoff")
    auto = runoff.decide(cands, config, electorate=9, cast=9, on_tie="rule")
    if held.cut is None:
        assert auto.cut is None and held.held == {}
        return
    tied = [c for c in cands if c.id in held.cut.project_ids]
    # Every order the run-off could give the tied: the decided selection is the greedy pass
    # over the first round's ranking with the tied in that order.
    for perm in itertools.permutations(tied):
        order = {c.id: i for i, c in enumerate(perm, start=1)}
        out = runoff.decide(cands, config, electorate=9, cast=9, on_tie="runoff", order=order)
        ranking = sorted(
            cands, key=lambda c: (-c.votes_for, order.get(c.id, 0), c.votes_against, c.cost, c.id)
        )
        expected = _greedy(ranking, config)
        if out.cut is None:
            assert {r.id for r in out.selection.rows if out.selected(r)} == expected
    # Held undecided: the tied and the passing below them; the rest as the rule has it.
    below = False
    for row in held.selection.rows:
        below = below or row.id in held.cut.project_ids
        assert (row.id in held.held) == (below and row.passed)
    assert held.cut.places is None or 0 < held.cut.places < len(tied)
    above = {r.id for r in auto.selection.rows if r.selected} - set(held.held)
    assert held.budget_used == sum(c.cost for c in cands if c.id in above)
    assert held.cut.budget_left == config.budget - held.budget_used


def test_a_draft_runoff_can_be_deleted_and_started_again(
    client: TestClient, session: Session, admin: dict[str, str], deputies: Electorate
) -> None:
    sid, _ids = tied_session(client, admin, deputies, on_tie="runoff")
    rid = client.post(f"{API}/{sid}/runoff", headers=admin).json()["id"]
    assert client.post(f"{API}/{sid}/runoff", headers=admin).status_code == 409  # one at a time
    assert client.delete(f"{API}/{rid}").status_code == 401
    assert client.delete(f"{API}/{rid}", headers=deputies.headers[0]).status_code == 403
    assert client.delete(f"{API}/{rid}", headers=admin).status_code == 204
    assert client.get(f"{API}/{rid}").status_code == 404
    assert session.exec(select(SessionDeputy).where(SessionDeputy.session_id == rid)).all() == []
    assert session.exec(select(Attendance).where(Attendance.session_id == rid)).all() == []
    entry = session.exec(select(AuditEntry).where(AuditEntry.action == "voting_session.delete"))
    assert entry.one().target == str(rid)
    # The tie still awaits its run-off: the office starts it again.
    assert _result(client, admin, sid)["cut_tie"]["pending"] is True  # type: ignore[index]
    again = client.post(f"{API}/{sid}/runoff", headers=admin)
    assert again.status_code == 201 and again.json()["state"] == "draft"
    # Once opened, a vote stays on record; the first round was never a draft to delete.
    act(client, admin, again.json()["id"], "open")
    assert client.delete(f"{API}/{again.json()['id']}", headers=admin).status_code == 409
    assert client.delete(f"{API}/{sid}", headers=admin).status_code == 409
    assert client.delete(f"{API}/999999", headers=admin).status_code == 404
