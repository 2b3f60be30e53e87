"""Seed data for the hardening suite: accounts of every role, units, a survey, an open
campaign with responses, and (when the voting API is mounted) projects and an open session.

Everything goes through the public HTTP API, so it works against an in-process client or a
real server alike. Ids are predictable (1 for the first of each kind) because every test starts
from an empty database.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from service.auth import hash_password, issue_token
from service.db import utcnow
from service.models import Role, User
from tests.conftest import SECRETS
from tests.factories import PASSWORD
from tests.surveys.forms.factories import campaign_body, make_units, response_body, survey_body

DEPUTIES = 5


@dataclass
class World:
    """What was seeded, and bearer headers for each role."""

    tokens: dict[str, dict[str, str]]
    user_ids: dict[str, int]
    survey_id: int
    campaign_id: int
    invitation_campaign_id: int
    deputies: list[str] = field(default_factory=list)
    project_ids: list[int] = field(default_factory=list)
    voting_session_id: int | None = None
    voting: bool = False
    extra_tokens: dict[str, dict[str, str]] = field(default_factory=dict)


_HASH: list[str] = []


def add_user(session: Session, role: Role, username: str) -> int:
    """An account with the factories' password (one Argon2 hash shared, so seeding is quick)."""
    if not _HASH:
        _HASH.append(hash_password(PASSWORD))
    user = User(username=username, role=role, password_hash=_HASH[0])
    session.add(user)
    session.flush()
    return user.id or 0


def bearer_for(engine: Engine, username: str) -> dict[str, str]:
    """Bearer headers issued straight in the database (no login round trip, no throttle)."""
    with Session(engine) as s:
        user = s.exec(select(User).where(User.username == username)).one()
        raw, _ = issue_token(s, user=user, settings=_TokenSettings())  # type: ignore[arg-type]
        s.commit()
    SECRETS.add(raw)
    return {"Authorization": f"Bearer {raw}"}


class _TokenSettings:
    token_ttl_hours = 12


def token(client: httpx.Client, username: str, password: str = PASSWORD) -> dict[str, str]:
    """Bearer headers for an account (the token is registered as a secret for the log check)."""
    r = client.post("/api/v1/auth/token", data={"username": username, "password": password})
    assert r.status_code == 200, r.text
    raw = r.json()["access_token"]
    SECRETS.add(raw)
    return {"Authorization": f"Bearer {raw}"}


def has_route(client: httpx.Client, path: str) -> bool:
    """True when the running app's OpenAPI schema has this path (others' work may be pending)."""
    paths: dict[str, Any] = client.get("/openapi.json").json()["paths"]
    return path in paths


def ok(r: httpx.Response, *codes: int) -> Any:
    assert r.status_code in (codes or (200, 201)), (r.request.method, r.request.url, r.text)
    return r.json() if r.content else None


def seed(
    client: httpx.Client,
    engine: Engine,
    *,
    responses: int = 12,
    deputies: int = DEPUTIES,
    label: str = "",
) -> World:
    """Seed the database behind ``client`` (empty) and return what was made.

    ``label`` is put into every title, name and description an admin can write (to check
    that hostile text is escaped wherever it is shown).
    """
    names = [f"h-dep{i}" for i in range(1, deputies + 1)]
    with Session(engine) as s:
        ids = {
            "admin": add_user(s, Role.admin, "h-admin"),
            "evaluator": add_user(s, Role.evaluator, "h-eval"),
        }
        for name in names:
            ids.setdefault("deputy", add_user(s, Role.deputy, name))
        s.commit()
        make_units(s)
    tokens = {
        "admin": token(client, "h-admin"),
        "evaluator": token(client, "h-eval"),
        "deputy": token(client, names[0]),
    }
    admin = tokens["admin"]
    sbody = survey_body()
    if label:
        sbody.update(title=label + sbody["title"], description=label)
        for q in sbody["questions"]:
            q["label"] = label + q["label"]
            q["label_en"] = label + q["label_en"]
        unit = {"code": "dept-label", "name": label, "name_en": label, "kind": "department"}
        ok(client.post("/api/v1/units", json=unit, headers=admin))
    survey_id = ok(client.post("/api/v1/surveys", json=sbody, headers=admin))["id"]
    cbody = campaign_body(survey_id, title=label + "2026年度评议", title_en=label + "Review")
    cid = ok(client.post("/api/v1/campaigns", json=cbody, headers=admin))["id"]
    inv = ok(
        client.post(
            "/api/v1/campaigns",
            json=campaign_body(survey_id, access="invitation", title="邀请制评议"),
            headers=admin,
        )
    )["id"]
    for i in range(responses):
        body = response_body(unit_code=["dept-civil", "dept-hrss", "win-social"][i % 3])
        body["answers"]["attitude"] = 1 + i % 5
        ok(client.post(f"/api/v1/campaigns/{cid}/responses", json=body), 201)
    world = World(tokens, ids, survey_id, cid, inv, deputies=names)
    if has_route(client, "/api/v1/voting-sessions"):
        seed_voting(client, world, label=label)
    return world


def seed_voting(client: httpx.Client, world: World, *, projects: int = 3, label: str = "") -> None:
    """Projects and an open selection session with the world's deputies as electorate."""
    admin = world.tokens["admin"]
    for i in range(projects):
        body = {
            "title": f"{label}民生实事项目{i + 1}",
            "title_en": f"{label}Project {i + 1}",
            "description": label + "改造老旧小区",
            "category": "养老",
            "budget": 1_000_000 * (i + 1),
            "sponsor_unit_code": "dept-civil",
            "area_code": "comm-a1",
        }
        world.project_ids.append(
            ok(client.post("/api/v1/projects", json=body, headers=admin))["id"]
        )
    world.voting_session_id = create_session(client, world)
    r = client.post(f"/api/v1/voting-sessions/{world.voting_session_id}/open", headers=admin)
    world.voting = r.status_code == 200


def create_session(client: httpx.Client, world: World, **extra: Any) -> int:
    body: dict[str, Any] = {
        "title": "2027年民生实事项目票决",
        "year": 2027,
        "project_ids": world.project_ids,
        "deputy_usernames": world.deputies,
        "budget_cap": 4_000_000,
        "max_selected": None,
        "max_for_per_ballot": None,
        "threshold": "majority_of_all",
        "on_no_fit": "skip",
    }
    body.update(extra)
    return int(
        ok(client.post("/api/v1/voting-sessions", json=body, headers=world.tokens["admin"]))["id"]
    )


def new_response(unit_code: str = "dept-civil", **extra: Any) -> dict[str, Any]:
    """A valid public response body with a fresh submission id."""
    body = response_body(unit_code=unit_code)
    body["submission_id"] = uuid.uuid4().hex
    body.update(extra)
    return body


def window(days_before: int = 1, days_after: int = 30) -> tuple[str, str]:
    now = utcnow()
    return (
        (now - timedelta(days=days_before)).isoformat(),
        (now + timedelta(days=days_after)).isoformat(),
    )


# Tables that legitimately change on a refused request: failed logins are counted.
# The login bookkeeping, and what the comment-scoring job derives in the background on its own
# clock (a request never writes it, so its rows may appear between any two requests).
VOLATILE = {"login_throttle", "auth_token", "comment_sentiment", "comment_scan_mark"}


def counts(engine: Engine) -> dict[str, int]:
    """Rows per table (every table of every domain, less the VOLATILE ones)."""
    from sqlalchemy import func
    from sqlalchemy import select as sql_select

    from service.schema import load_all_models

    out = {}
    with engine.connect() as conn:
        for table in load_all_models().sorted_tables:
            if table.name not in VOLATILE:
                n = conn.execute(sql_select(func.count()).select_from(table)).scalar()
                out[table.name] = int(n or 0)
    return out
