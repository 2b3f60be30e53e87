"""The demo step: 300 deputies, a published 25-project vote, a published grading, proposals,
progress on the selected projects, an open vote and a hall vote ready to open; all consistent
with a recount."""

from __future__ import annotations

import random

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from service import demo as service_demo
from service.models import Role, User
from surveys.units import demo as units_demo
from surveys.voting import demo
from surveys.voting.ballots import turnout
from surveys.voting.models import ProjectStatus, Proposal, SessionKind, SessionState, VotingSession
from surveys.voting.results import recount


def test_demo_builds_a_published_vote_with_progress(app: FastAPI, client: TestClient) -> None:
    assert "surveys.voting.demo:build" in service_demo.DEMO_STEPS
    engine = app.state.engine
    rng = random.Random(7)
    service_demo.accounts(engine=engine, rng=rng, responses=0)
    units_demo.build(engine=engine, rng=rng, responses=0)
    demo.build(engine=engine, rng=rng, responses=0)
    with Session(engine) as s:
        deputies = s.exec(select(User).where(User.role == Role.deputy)).all()
        assert len(deputies) == 300
        sessions = {(vs.kind, vs.state): vs for vs in s.exec(select(VotingSession))}
        sel = sessions[(SessionKind.selection, SessionState.published)]
        sat = sessions[(SessionKind.satisfaction, SessionState.published)]
        nxt = sessions[(SessionKind.selection, SessionState.open)]
        hall = sessions[(SessionKind.selection, SessionState.draft)]
        assert sel.result is not None and sat.result is not None
        assert len(sel.result["projects"]) == 25 and 270 <= sel.result["cast"] <= 300
        chosen = [r for r in sel.result["projects"] if r["selected"]]
        assert 5 <= len(chosen) < 25 and sel.result["budget_used"] <= 30_000_000
        assert any(not r["passed"] for r in sel.result["projects"])  # some fall short of 151
        assert {r["grade"] for r in sat.result["projects"]} >= {"satisfied"}
        assert recount(s, vs=sel)[0] and recount(s, vs=sat)[0]
        assert turnout(s, vs=nxt).cast == 60
        assert len(s.exec(select(Proposal)).all()) == 6
    tracked = client.get(
        "/api/v1/projects", params={"status": ["in_progress", "completed", "selected"]}
    ).json()
    assert len(tracked) == len(chosen) and all(p["updates"] for p in tracked)
    assert any(p["status"] == ProjectStatus.completed for p in tracked)
    # The hall vote waits to be opened, its quorum met: the big screen says so.
    attendance = client.get(f"/api/v1/voting-sessions/{hall.id}/attendance").json()
    assert (attendance["seated"], attendance["present"], attendance["quorum_met"]) == (
        300,
        230,
        True,
    )
    screen = client.get(f"/hall/{hall.id}")
    assert screen.status_code == 200 and "230" in screen.text
    page = client.get(f"/results/{sel.id}")
    assert page.status_code == 200 and "老旧小区加装电梯" in page.text
    # A demo deputy can log in with the documented password.
    r = client.post(
        "/api/v1/auth/token", data={"username": "deputy001", "password": demo.DEPUTY_PASSWORD}
    )
    assert r.status_code == 200
