"""Vote analytics: margins to the threshold, budget use, default rule against Equal Shares."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session

from analytics.figures import threshold_votes
from analytics.figures import vote as vote_figure
from analytics.votes.service import analyze
from surveys.voting.models import VotingSession
from surveys.voting.results import results
from surveys.voting.schemas import SatisfactionResult, SelectionResult
from tests.factories import headers_for
from tests.surveys.voting.factories import (
    act,
    bearer,
    create_projects,
    create_session,
    make_deputies,
    make_units,
    session_payload,
    vote,
)


def test_selection_analytics_route(app: FastAPI, client: TestClient, session: Session) -> None:
    make_units(session)
    admin = headers_for(client, session, "admin", "admin")
    users = make_deputies(session, 7)
    names = [u.username for u in users]
    deputy_headers = [bearer(app, session, u) for u in users]
    p = create_projects(client, admin, [1_000_000, 1_500_000, 2_000_000])
    sid = create_session(client, admin, session_payload(p, names))
    url = f"/api/v1/voting-sessions/{sid}/analytics"
    act(client, admin, sid, "open")
    # 7 deputies, majority of all = 4 votes. Project 1: 6 for, 2: 4 for, 3: 3 for.
    fors = {p[0]: 6, p[1]: 4, p[2]: 3}
    for i, h in enumerate(deputy_headers):
        vote(client, h, sid, {pid: "for" if i < n else "against" for pid, n in fors.items()})
    ev = headers_for(client, session, "evaluator")
    assert client.get(url, headers=ev).status_code == 409  # still open: no results
    act(client, admin, sid, "close")
    act(client, admin, sid, "publish")
    assert client.get(url).status_code == 401
    deputy = deputy_headers[0]
    assert client.get(url, headers=deputy).status_code == 403
    assert client.get("/api/v1/voting-sessions/9999/analytics", headers=ev).status_code == 404
    r = client.get(url, headers=ev)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["threshold_votes"] == 4
    by = {x["project_id"]: x for x in body["projects"]}
    assert by[p[0]]["margin"] == 2 and by[p[0]]["votes_to_flip"] == 3
    assert by[p[1]]["margin"] == 0 and by[p[1]]["votes_to_flip"] == 1
    assert by[p[2]]["margin"] == -1 and by[p[2]]["votes_to_flip"] == 1
    assert body["closest"][:2] == sorted([p[1], p[2]])
    # Budget 3,000,000: projects 1 and 2 (2.5M) fit; project 3 failed the threshold.
    assert body["budget"]["used"] == 2_500_000 and body["budget"]["left"] == 500_000
    assert body["budget"]["used_share"] == 2_500_000 / 3_000_000
    rules = body["rules"]
    assert set(rules["default"]) == {p[0], p[1]}
    assert set(rules["both"]) | set(rules["only_default"]) == set(rules["default"])
    assert 0 <= rules["agreement"] <= 1


def test_majority_of_cast_chart_draws_the_rules_own_threshold(
    app: FastAPI, client: TestClient, session: Session
) -> None:
    make_units(session)
    admin = headers_for(client, session, "admin", "admin")
    users = make_deputies(session, 7)
    p = create_projects(client, admin, [1_000_000, 1_500_000])
    payload = session_payload(p, [u.username for u in users], threshold="majority_of_cast")
    sid = create_session(client, admin, payload)
    act(client, admin, sid, "open")
    # 4 of 7 deputies vote: more than half of the 4 ballots cast is 3 "for" votes (half of
    # all 7 seated deputies would be 4).
    for i, u in enumerate(users[:4]):
        vote(
            client, bearer(app, session, u), sid, {p[0]: "for", p[1]: "for" if i < 3 else "against"}
        )
    act(client, admin, sid, "close")
    act(client, admin, sid, "publish")
    vs = session.get(VotingSession, sid)
    assert vs is not None
    res = results(session, vs=vs, user=None)
    assert isinstance(res, SelectionResult)
    assert res.threshold == "majority_of_cast" and res.threshold_votes == 3
    assert threshold_votes(res) == 3
    line = [s for s in vote_figure(res).layout.shapes if s.xref == "x"]
    assert line and line[0].x0 == 3
    # The API answers the same number in the same JSON shape.
    body = client.get(f"/api/v1/voting-sessions/{sid}/results").json()
    assert body["threshold_votes"] == 3 and body == res.model_dump(mode="json")


SATISFACTION = {
    "session_id": 2,
    "kind": "satisfaction",
    "title": "测评",
    "title_en": "Grading",
    "year": 2026,
    "electorate": 9,
    "cast": 9,
    "voters_recorded": 9,
    "config_hash": "0" * 64,
    "counted_at": "2026-11-01T00:00:00+00:00",
    "rule": "",
    "rule_en": "",
    "ties": [],
}


def test_satisfaction_margins() -> None:
    result = SatisfactionResult.model_validate(
        SATISFACTION
        | {
            "projects": [
                {
                    "project_id": 1,
                    "title": "a",
                    "title_en": "",
                    "budget": 1,
                    "satisfied": 5,
                    "basically_satisfied": 2,
                    "dissatisfied": 2,
                    "grade": "satisfied",
                },
                {
                    "project_id": 2,
                    "title": "b",
                    "title_en": "",
                    "budget": 1,
                    "satisfied": 2,
                    "basically_satisfied": 2,
                    "dissatisfied": 5,
                    "grade": "dissatisfied",
                },
            ],
        }
    )
    out = analyze(result)
    assert out["line_votes"] == 5
    a, b = out["projects"]
    assert a["margin_satisfied"] == 0 and a["margin_basically_satisfied"] == 2
    assert b["margin_basically_satisfied"] == -1
