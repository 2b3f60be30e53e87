"""Seed data for the dashboard's page and browser tests: a campaign with responses (written
through the statistics contract) and staff accounts with page-session cookies."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from analytics import text
from analytics.synthetic import Synthetic, add_responses, make_campaign
from service.auth import SESSION_COOKIE, issue_token
from service.config import Settings
from service.models import Role, User
from surveys.units.models import Unit, UnitKind
from tests.factories import make_user


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
        text.score_pending(s, campaign_id=syn.campaign_id)
        s.commit()
    cookies = {}
    with Session(engine) as s:
        for role in Role:
            user = make_user(s, role, f"{role.value}-dash")
            cookies[role] = session_cookie(engine, settings, user)
    return DashWorld(syn=syn, cookies=cookies)
