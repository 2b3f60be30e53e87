"""Seed data for the dashboard's page and browser tests: a campaign with responses (written
through the statistics contract) and staff accounts with page-session cookies."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from analytics.comments import scoring
from service.auth import SESSION_COOKIE, issue_token
from service.config import Settings
from service.models import Role, User
from surveys.units.models import Unit, UnitKind
from tests.factories import headers_for, make_user
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
from tests.synthetic import Synthetic, add_responses, make_campaign


@dataclass
class DashWorld:
    """What the dashboard tests look at."""

    syn: Synthetic
    cookies: dict[Role, dict[str, str]]


def session_cookie(engine: Engine, settings: Settings, user: User) -> dict[str, str]:
    """A page-session cookie for the user (as the login form would set)."""
    with Session(engine) as s:
        db_user = s.get(User, user.id)
        raw, _ = issue_token(s, user=db_user, settings=settings, kind="cookie")
        s.commit()
    return {SESSION_COOKIE: raw}


def build_world(
    engine: Engine,
    settings: Settings,
    *,
    responses: int = 1500,
    units: int = 8,
    comment_share: float = 0.0,
) -> DashWorld:
    """A campaign over units of two kinds, three areas and a few months of responses."""
    syn = make_campaign(engine, units=units, areas=3, prefix="dw")
    with Session(engine) as s:
        # Half the units become service windows, so the unit kind filter has work to do.
        for code in syn.unit_codes[: units // 2]:
            u = s.exec(select(Unit).where(Unit.code == code)).one()
            u.kind = UnitKind.service_window
            u.name = f"窗口{code[-1]}"
            s.add(u)
        s.commit()
    add_responses(engine, syn, n=responses, seed=11, comment_share=comment_share)
    with Session(engine) as s:
        scoring.score_pending(s, campaign_id=syn.campaign_id)
        s.commit()
    cookies = {}
    with Session(engine) as s:
        for role in Role:
            user = make_user(s, role, f"{role.value}-dash")
            cookies[role] = session_cookie(engine, settings, user)
    return DashWorld(syn=syn, cookies=cookies)


def build_vote(app: FastAPI, *, deputies: int = 9) -> int:
    """A published selection session over five projects, with progress on a selected one.

    Deputy i votes "for" project j when (i + j) % 3 != 0, so projects get different counts;
    the budget cap leaves out one project that passes."""
    budgets = [800_000, 1_200_000, 900_000, 1_500_000, 600_000]
    with TestClient(app) as client, Session(app.state.engine) as s:
        make_units(s)
        admin = headers_for(client, s, Role.admin, "vote-admin")
        users = make_deputies(s, deputies, prefix="dashdep")
        heads = [bearer(app, s, u) for u in users]
        ids = create_projects(client, admin, budgets)
        sid = create_session(
            client,
            admin,
            session_payload(ids, [u.username for u in users], budget_cap=3_000_000),
        )
        act(client, admin, sid, "open")
        for i, h in enumerate(heads):
            choices = {
                pid: ("for" if (i + j) % 3 else ("against" if i % 2 else "abstain"))
                for j, pid in enumerate(ids)
            }
            vote(client, h, sid, choices)
        act(client, admin, sid, "close")
        act(client, admin, sid, "publish")
        result = client.get(f"/api/v1/voting-sessions/{sid}/results").json()
        chosen = [p["project_id"] for p in result["projects"] if p["selected"]]
        r = client.post(
            f"/api/v1/projects/{chosen[0]}/updates",
            json={"date": "2027-03-01", "percent_done": 40, "note": "已完成选址 <b>x</b>"},
            headers=admin,
        )
        assert r.status_code in (200, 201), r.text
    return sid
