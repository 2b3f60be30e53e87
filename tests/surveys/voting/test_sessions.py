"""Voting sessions end to end: configuration, freezing, secret ballots, results, publication,
receipts, recount and the Pabulib export."""

from __future__ import annotations

import hashlib
import json
import logging

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import inspect
from sqlmodel import Session, select

from service.audit import AuditEntry
from service.models import Role
from surveys.units.models import Unit, UnitKind
from surveys.voting.ballots import receipt_hash
from surveys.voting.models import Ballot, Project, ProjectStatus, VotingSession
from surveys.voting.paper_void import void_result
from surveys.voting.results import recount
from surveys.voting.schemas import as_stored, parse_result
from tests.factories import headers_for
from tests.surveys.voting.conftest import Electorate
from tests.surveys.voting.factories import (
    act,
    bearer,
    create_projects,
    create_session,
    make_deputies,
    session_payload,
    vote,
)

API = "/api/v1/voting-sessions"


def _opened(
    client: TestClient, admin: dict[str, str], deputies: Electorate, **kw: object
) -> tuple[int, list[int]]:
    ids = create_projects(client, admin, [1_000_000, 1_500_000, 800_000, 700_000])
    sid = create_session(client, admin, session_payload(ids, deputies.names, **kw))
    act(client, admin, sid, "open")
    return sid, ids


# --- configuration ------------------------------------------------------------------------


def test_create_session_validates_projects_deputies_and_rule(
    client: TestClient, session: Session, admin: dict[str, str], deputies: Electorate
) -> None:
    ids = create_projects(client, admin, [100, 200])
    headers_for(client, session, Role.evaluator, "eva")
    cases = [
        ({"project_ids": [ids[0], 999]}, ["body", "project_ids", 1]),
        ({"project_ids": [ids[0], ids[0]]}, ["body", "project_ids"]),
        ({"deputy_usernames": ["deputy001", "eva"]}, ["body", "deputy_usernames", 1]),
        ({"deputy_usernames": ["nobody"]}, ["body", "deputy_usernames", 0]),
        ({"threshold": "most"}, ["body", "threshold"]),
        ({"threshold": {"fraction": 1.5}}, ["body", "threshold"]),
        ({"budget_cap": 0}, ["body", "budget_cap"]),
        ({"on_no_fit": "maybe"}, ["body", "on_no_fit"]),
        ({"project_ids": []}, ["body", "project_ids"]),
    ]
    for overrides, loc in cases:
        payload = session_payload(ids, deputies.names) | overrides
        r = client.post(API, json=payload, headers=admin)
        assert r.status_code == 422, (overrides, r.text)
        assert r.json()["detail"][0]["loc"] == loc, (overrides, r.json())
    assert client.post(API, json=session_payload(ids, deputies.names)).status_code == 401
    r = client.post(API, json=session_payload(ids, deputies.names), headers=deputies.headers[0])
    assert r.status_code == 403


def test_draft_can_change_and_open_freezes_it(
    client: TestClient, session: Session, admin: dict[str, str], deputies: Electorate
) -> None:
    ids = create_projects(client, admin, [1_000_000, 2_000_000])
    sid = create_session(client, admin, session_payload(ids, deputies.names[:3]))
    r = client.patch(
        f"{API}/{sid}",
        json={
            "deputy_usernames": deputies.names,
            "threshold": {"fraction": "2/3"},
            "budget_cap": 2_500_000,
        },
        headers=admin,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["electorate"] == 7 and body["threshold"] == {"fraction": "2/3"}
    assert body["state"] == "draft" and body["config_hash"] is None
    assert (
        client.patch(f"{API}/{sid}", json={"threshold": "nope"}, headers=admin).status_code == 422
    )
    assert client.patch(f"{API}/999", json={"year": 2028}, headers=admin).status_code == 404

    opened = act(client, admin, sid, "open")
    assert opened["state"] == "open" and len(opened["config_hash"]) == 64
    assert [p["project_id"] for p in opened["projects"]] == ids
    for change in (
        {"budget_cap": 9_000_000},
        {"project_ids": [ids[0]]},
        {"deputy_usernames": deputies.names[:2]},
        {"threshold": "none"},
        {"title": "新标题"},
    ):
        r = client.patch(f"{API}/{sid}", json=change, headers=admin)
        assert r.status_code == 409, change
    assert client.post(f"{API}/{sid}/open", headers=admin).status_code == 409
    assert client.post(f"{API}/{sid}/publish", headers=admin).status_code == 409
    assert session.get(Project, ids[0]).status == ProjectStatus.on_ballot  # type: ignore[union-attr]
    # The hash is that of the frozen configuration, which anyone can recompute.
    vs = session.get(VotingSession, sid)
    assert vs is not None and vs.frozen_config is not None
    assert (
        vs.config_hash
        == hashlib.sha256(
            json.dumps(
                vs.frozen_config, ensure_ascii=False, sort_keys=True, separators=(",", ":")
            ).encode()
        ).hexdigest()
    )
    assert client.get(f"{API}/{sid}").json()["config_hash"] == vs.config_hash


def test_state_changes_are_admin_only_and_audited(
    client: TestClient, session: Session, admin: dict[str, str], deputies: Electorate
) -> None:
    sid, _ = _opened(client, admin, deputies)
    for action in ("open", "close", "publish"):
        assert client.post(f"{API}/{sid}/{action}").status_code == 401
        assert client.post(f"{API}/{sid}/{action}", headers=deputies.headers[0]).status_code == 403
        assert client.post(f"{API}/999/{action}", headers=admin).status_code == 404
    act(client, admin, sid, "close")
    act(client, admin, sid, "publish")
    actions = [e.action for e in session.exec(select(AuditEntry).order_by(AuditEntry.id))]
    assert [a for a in actions if a.startswith("voting_session.")] == [
        "voting_session.create",
        "voting_session.open",
        "voting_session.close",
        "voting_session.publish",
    ]


# --- ballots --------------------------------------------------------------------------------


def test_ballot_rules_membership_completeness_limits_and_once(
    app: FastAPI, client: TestClient, session: Session, admin: dict[str, str], deputies: Electorate
) -> None:
    sid, ids = _opened(client, admin, deputies, max_for_per_ballot=2)
    h = deputies.headers[0]
    full = {str(i): "abstain" for i in ids}
    url = f"{API}/{sid}/ballots"
    # 422: a project missing, an unknown project, a bad mark, too many "for".
    missing = dict(full)
    missing.pop(str(ids[0]))
    r = client.post(url, json={"choices": missing}, headers=h)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "choices", str(ids[0])]
    r = client.post(url, json={"choices": full | {"999": "for"}}, headers=h)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "choices", "999"]
    r = client.post(url, json={"choices": full | {str(ids[1]): "yes"}}, headers=h)
    assert r.status_code == 422
    three_for = full | {str(i): "for" for i in ids[:3]}
    r = client.post(url, json={"choices": three_for}, headers=h)
    assert r.status_code == 422 and "at most 2" in r.json()["detail"][0]["msg"]
    assert client.post(url, json={}, headers=h).status_code == 422
    # 401 / 403 (role) / 403 (not in the electorate) / 404.
    assert client.post(url, json={"choices": full}).status_code == 401
    assert client.post(url, json={"choices": full}, headers=admin).status_code == 403
    outsider = make_deputies(session, 1, prefix="outsider")[0]
    r = client.post(url, json={"choices": full}, headers=bearer(app, session, outsider))
    assert r.status_code == 403 and "electorate" in r.text
    assert client.post(f"{API}/999/ballots", json={"choices": full}, headers=h).status_code == 404
    # Happy path, then a second ballot is refused.
    receipt = vote(client, h, sid, {int(k): v for k, v in (full | {str(ids[0]): "for"}).items()})
    assert len(receipt["receipt"].replace("-", "")) == 20
    assert receipt["receipt_hash"] == receipt_hash(receipt["receipt"])
    r = client.post(url, json={"choices": full}, headers=h)
    assert r.status_code == 409 and "already voted" in r.text
    assert client.get(f"{API}/{sid}/turnout").json() == {
        "cast": 1,
        "electorate": 7,
        "state": "open",
    }


def test_no_ballot_before_opening_or_after_closing(
    client: TestClient, admin: dict[str, str], deputies: Electorate
) -> None:
    ids = create_projects(client, admin, [100, 200])
    sid = create_session(client, admin, session_payload(ids, deputies.names))
    choices = {str(i): "for" for i in ids}
    r = client.post(f"{API}/{sid}/ballots", json={"choices": choices}, headers=deputies.headers[0])
    assert r.status_code == 409 and "draft" in r.text
    act(client, admin, sid, "open")
    vote(client, deputies.headers[0], sid, {i: "for" for i in ids})
    act(client, admin, sid, "close")
    r = client.post(f"{API}/{sid}/ballots", json={"choices": choices}, headers=deputies.headers[1])
    assert r.status_code == 409 and "closed" in r.text


def test_only_turnout_while_open(
    client: TestClient, admin: dict[str, str], deputies: Electorate
) -> None:
    sid, ids = _opened(client, admin, deputies)
    vote(client, deputies.headers[0], sid, {i: "for" for i in ids})
    for who in ({}, admin, deputies.headers[0]):
        r = client.get(f"{API}/{sid}/results", headers=who)
        assert r.status_code == 409 and "turnout" in r.text
        assert client.get(f"{API}/{sid}/ballots", headers=who).status_code == 409
        assert client.get(f"{API}/{sid}/export.pb", headers=who).status_code == 409
    public = client.get(f"{API}/{sid}").json()
    assert "for" not in json.dumps(public["projects"]) or all(
        "votes" not in p for p in public["projects"]
    )
    assert client.get(f"{API}/{sid}/turnout").json()["cast"] == 1
    assert client.get(f"{API}/999/turnout").status_code == 404


# --- counting and publication -----------------------------------------------------------------


def test_default_rule_end_to_end_with_a_decisive_tie(
    client: TestClient, session: Session, admin: dict[str, str], deputies: Electorate
) -> None:
    # Budget 2.0M; seven deputies, pass line 4 "for" (more than half of all seven).
    # P1 (1.0M) 6 for; P2 (1.5M) 5 for 1 against; P3 (0.8M) 5 for 0 against; P4 (0.7M) 3 for.
    ids = create_projects(client, admin, [1_000_000, 1_500_000, 800_000, 700_000])
    sid = create_session(client, admin, session_payload(ids, deputies.names, budget_cap=2_000_000))
    act(client, admin, sid, "open")
    p1, p2, p3, p4 = ids
    plan = [
        {p1: "for", p2: "for", p3: "for", p4: "for"},
        {p1: "for", p2: "for", p3: "for", p4: "for"},
        {p1: "for", p2: "for", p3: "for", p4: "for"},
        {p1: "for", p2: "for", p3: "for", p4: "against"},
        {p1: "for", p2: "for", p3: "for", p4: "abstain"},
        {p1: "for", p2: "against", p3: "abstain", p4: "abstain"},
    ]  # the seventh deputy does not vote
    receipts = [vote(client, deputies.headers[i], sid, c) for i, c in enumerate(plan)]
    act(client, admin, sid, "close")
    # Closed: the admin may look, nobody else yet.
    assert client.get(f"{API}/{sid}/results").status_code == 409
    assert client.get(f"{API}/{sid}/results", headers=deputies.headers[0]).status_code == 409
    assert client.get(f"{API}/{sid}/results", headers=admin).status_code == 200
    act(client, admin, sid, "publish")

    res = client.get(f"{API}/{sid}/results").json()
    # The typed count answers the keys of the published contract (docs/voting.md).
    assert set(res) == {
        *("session_id", "kind", "title", "title_en", "year", "electorate", "cast"),
        *("voters_recorded", "config_hash", "counted_at", "state", "published_at"),
        *("projects", "budget_cap", "budget_used", "threshold", "threshold_votes"),
        *("on_no_fit", "max_selected", "max_for_per_ballot", "rule", "rule_en", "ties"),
        "equal_shares",
        # The tie policy and the tie at the cut line (surveys.voting.runoff).
        *("on_tie", "cut_tie"),
        # The hall vote's keys; a remote electronic session leaves them empty.
        *("mode", "attendance", "ballots_electronic", "ballots_paper", "paper", "rounds"),
        # A paper count with more collected than issued voids the vote (.paper_void).
        *("void", "void_reason"),
        "attendance_at_close",  # 实到 at the close (null in a remote vote)
        "scrutineers",  # 监票人 named at the close (surveys.voting.scrutiny)
    }
    assert (res["mode"], res["attendance"], res["paper"], res["rounds"]) == (
        "remote",
        None,
        None,
        [],
    )
    assert res["kind"] == "selection" and res["state"] == "published"
    assert set(res["projects"][0]) == {
        *("project_id", "title", "title_en", "category", "budget", "for", "against"),
        *("abstain", "passed", "rank", "selected", "reason", "selected_equal_shares"),
    }
    assert set(res["equal_shares"]) == {
        *("selected", "budget_used", "mes", "greedy", "per_voter_budget", "prefer_mes"),
        *("prefer_greedy", "used_greedy", "method"),
    }
    rows = {p["project_id"]: p for p in res["projects"]}
    assert (rows[p1]["for"], rows[p1]["against"], rows[p1]["abstain"]) == (6, 0, 0)
    assert (rows[p2]["for"], rows[p2]["against"], rows[p2]["abstain"]) == (5, 1, 0)
    assert (rows[p3]["for"], rows[p3]["against"], rows[p3]["abstain"]) == (5, 0, 1)
    assert (rows[p4]["for"], rows[p4]["against"], rows[p4]["abstain"]) == (3, 1, 2)
    assert [(p["project_id"], p["rank"], p["passed"], p["selected"]) for p in res["projects"]] == [
        (p1, 1, True, True),
        (p3, 2, True, True),  # tied with P2 on "for"; fewer "against" puts it first
        (p2, 3, True, False),  # 1.0M + 0.8M used: 1.5M no longer fits
        (p4, None, False, False),  # 3 < 4 = floor(7/2) + 1
    ]
    assert res["budget_used"] == 1_800_000 and res["threshold_votes"] == 4
    assert res["cast"] == 6 and res["electorate"] == 7
    assert res["ties"] == [
        {
            "project_ids": [p3, p2],
            "votes_for": 5,
            "settled_by": ["fewer_against"],
            "text": "反对票少者优先",
            "text_en": "fewer votes against first",
        }
    ]
    assert "7" in res["rule"] and "至少 4 票" in res["rule"] and "more than half" in res["rule_en"]
    assert res["config_hash"] == client.get(f"{API}/{sid}").json()["config_hash"]
    es = res["equal_shares"]
    assert set(es["selected"]) <= set(ids) and es["budget_used"] <= 2_000_000

    # Every receipt is found, with the marks as cast; nobody's name anywhere.
    ballots = client.get(f"{API}/{sid}/ballots").json()
    assert len(ballots) == 6
    by_hash = {b["receipt_hash"]: b["choices"] for b in ballots}
    for r, marks in zip(receipts, plan, strict=True):
        assert by_hash[hashlib.sha256(r["receipt"].replace("-", "").encode()).hexdigest()] == {
            str(k): v for k, v in marks.items()
        }
    assert not any(name in json.dumps(ballots) for name in deputies.names)
    # Anyone can recount from the public ballots.
    tally = sum(1 for b in ballots if b["choices"][str(p2)] == "for")
    assert tally == rows[p2]["for"]
    ok, _ = recount(session, vs=session.get(VotingSession, sid))  # type: ignore[arg-type]
    assert ok

    # Selected projects became rateable units; the others are not selected.
    session.expire_all()
    proj = {p.id: p for p in session.exec(select(Project))}
    assert proj[p1].status == proj[p3].status == ProjectStatus.selected
    assert proj[p2].status == proj[p4].status == ProjectStatus.not_selected
    unit = session.get(Unit, proj[p1].unit_id)
    assert unit is not None and unit.kind == UnitKind.project and unit.code == f"project-{p1}"


def test_export_is_a_valid_pabulib_file_without_identities(
    client: TestClient, admin: dict[str, str], deputies: Electorate
) -> None:
    from pabulib.checker import Checker
    from pabutools.election.pabulib import parse_pabulib_from_string

    sid, ids = _opened(client, admin, deputies, threshold={"min_votes": 2}, budget_cap=2_600_000)
    for i, h in enumerate(deputies.headers[:5]):
        vote(
            client,
            h,
            sid,
            {p: ("for" if (i + j) % 2 == 0 else "against") for j, p in enumerate(ids)},
        )
    act(client, admin, sid, "close")
    assert client.get(f"{API}/{sid}/export.pb").status_code == 409  # not public yet
    r = client.get(f"{API}/{sid}/export.pb", headers=admin)
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    text = r.text
    assert not any(name in text for name in deputies.names)
    instance, profile = parse_pabulib_from_string(text)
    assert instance.budget_limit == 2_600_000 and len(profile) == 5
    assert {p.name for p in instance} == {str(i) for i in ids}
    report = Checker().process_files([text])
    assert report["metadata"]["valid"] == 1, json.dumps(report, ensure_ascii=False)
    file_report = next(v for k, v in report.items() if k not in ("metadata", "summary"))
    assert file_report["results"]["errors"] == {}, file_report
    act(client, admin, sid, "publish")
    assert client.get(f"{API}/{sid}/export.pb").text == text


def test_satisfaction_session_grades_selected_projects(
    client: TestClient, session: Session, admin: dict[str, str], deputies: Electorate
) -> None:
    ids = create_projects(client, admin, [100, 200, 300])
    sel = create_session(client, admin, session_payload(ids, deputies.names, budget_cap=1_000))
    act(client, admin, sel, "open")
    for h in deputies.headers[:4]:
        vote(client, h, sel, {i: "for" for i in ids})
    act(client, admin, sel, "close")
    act(client, admin, sel, "publish")
    # A satisfaction session needs projects that were selected.
    other = create_projects(client, admin, [50])
    r = client.post(
        API,
        json=session_payload(ids + other, deputies.names, kind="satisfaction", budget_cap=0),
        headers=admin,
    )
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "project_ids", 3]
    sat = create_session(
        client, admin, session_payload(ids, deputies.names, kind="satisfaction", budget_cap=0)
    )
    act(client, admin, sat, "open")
    a, b, c = ids
    marks = [
        {a: "satisfied", b: "satisfied", c: "dissatisfied"},
        {a: "satisfied", b: "basically_satisfied", c: "dissatisfied"},
        {a: "satisfied", b: "basically_satisfied", c: "basically_satisfied"},
        {a: "satisfied", b: "basically_satisfied", c: "satisfied"},
        {a: "basically_satisfied", b: "dissatisfied", c: "dissatisfied"},
    ]
    for h, m in zip(deputies.headers, marks, strict=False):
        vote(client, h, sat, m)
    r = client.post(
        f"{API}/{sat}/ballots",
        json={"choices": {str(a): "for", str(b): "satisfied", str(c): "satisfied"}},
        headers=deputies.headers[6],
    )
    assert r.status_code == 422
    act(client, admin, sat, "close")
    act(client, admin, sat, "publish")
    res = client.get(f"{API}/{sat}/results").json()
    grades = {p["project_id"]: p["grade"] for p in res["projects"]}
    # Seven deputies: more than half is 4.
    assert grades == {a: "satisfied", b: "basically_satisfied", c: "dissatisfied"}
    assert "满意" in res["rule"] and "more than half" in res["rule_en"]
    assert res["kind"] == "satisfaction" and res["ties"] == [] and "threshold" not in res
    assert set(res["projects"][0]) == {
        *("project_id", "title", "title_en", "budget", "satisfied", "basically_satisfied"),
        *("dissatisfied", "grade"),
    }
    assert client.get(f"{API}/{sat}/export.pb").status_code == 409
    # Void (paper ballots: more collected than issued): nothing is graded, not "dissatisfied".
    void = void_result(parse_result(res), "表决无效")
    assert void.void and {p.grade for p in void.projects} == {None}
    assert [p.satisfied for p in void.projects] == [p["satisfied"] for p in res["projects"]]
    assert as_stored(parse_result(as_stored(void))) == as_stored(void)  # kept as null


# --- secrecy ------------------------------------------------------------------------------------


def test_ballot_tables_hold_nothing_that_links_to_a_deputy(
    app: FastAPI,
    client: TestClient,
    session: Session,
    admin: dict[str, str],
    deputies: Electorate,
    caplog: pytest.LogCaptureFixture,
) -> None:
    insp = inspect(app.state.engine)
    for table in ("voting_ballot", "voting_ballot_mark"):
        cols = {c["name"]: c for c in insp.get_columns(table)}
        assert not any("user" in n or "deputy" in n or n.endswith("_at") for n in cols), cols
        fks = {fk["referred_table"] for fk in insp.get_foreign_keys(table)}
        assert "user_account" not in fks
        assert not any(
            "DATE" in str(c["type"]).upper() or "TIME" in str(c["type"]).upper()
            for c in cols.values()
        )
    voter_cols = {c["name"] for c in insp.get_columns("voting_voter")}
    assert voter_cols == {"session_id", "user_id"}  # no ballot, no time

    sid, ids = _opened(client, admin, deputies)
    caplog.set_level(logging.DEBUG)
    receipts = [vote(client, h, sid, {i: "for" for i in ids}) for h in deputies.headers[:5]]
    ballot_ids = list(session.exec(select(Ballot.id)))
    # Random ids, not a sequence: nothing in them tells the order of casting.
    assert len(set(ballot_ids)) == 5 and all(len(b) == 32 for b in ballot_ids)
    lines = [r.getMessage() for r in caplog.records]
    for line in lines:
        assert not any(r["receipt"] in line for r in receipts)
        for name in deputies.names:
            if name in line:
                assert not any(b in line for b in ballot_ids), line
    act(client, admin, sid, "close")
    act(client, admin, sid, "publish")
    published = json.dumps(client.get(f"{API}/{sid}/ballots").json())
    assert not any(b in published for b in ballot_ids)  # only receipt hashes are public
