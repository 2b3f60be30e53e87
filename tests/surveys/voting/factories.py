"""Factories for the voting tests: units, deputies with tokens, projects, sessions."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import insert
from sqlmodel import Session, select

from service.auth import hash_password, issue_token
from service.models import Role, User
from surveys.units.models import Unit, UnitKind
from tests.factories import PASSWORD


@lru_cache
def _password_hash() -> str:
    return hash_password(PASSWORD)


def make_units(session: Session) -> None:
    """A sponsoring department and two areas."""
    for code, name, kind in (
        ("edu", "教育局", UnitKind.department),
        ("civil", "民政局", UnitKind.department),
        ("jianshe", "建设街道", UnitKind.street),
        ("heping", "和平街道", UnitKind.street),
    ):
        session.add(Unit(code=code, name=name, name_en=code, kind=kind))
    session.commit()


def make_deputies(session: Session, n: int, prefix: str = "deputy") -> list[User]:
    """n active deputy accounts (one shared password hash: argon2 per account is slow)."""
    names = [f"{prefix}{i:03d}" for i in range(1, n + 1)]
    session.execute(
        insert(User),
        [
            {
                "username": name,
                "display_name": f"代表{i}",
                "role": Role.deputy,
                "is_active": True,
                "password_hash": _password_hash(),
            }
            for i, name in enumerate(names, start=1)
        ],
    )
    session.commit()
    return list(session.exec(select(User).where(User.username.in_(names)).order_by(User.id)))  # type: ignore[attr-defined]


def bearer(app: FastAPI, session: Session, user: User) -> dict[str, str]:
    """Bearer headers for the user without a password round trip."""
    from tests.conftest import SECRETS

    raw, _ = issue_token(session, user=user, settings=app.state.settings)
    session.commit()
    SECRETS.add(raw)
    return {"Authorization": f"Bearer {raw}"}


def project_payload(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "title": "社区老年食堂",
        "title_en": "Community canteen for the elderly",
        "description": "在建设街道新建两处老年助餐点。",
        "category": "养老",
        "budget": 1_200_000,
        "sponsor_unit_code": "civil",
        "area_code": "jianshe",
    }
    data.update(overrides)
    return data


def create_projects(client: TestClient, admin: dict[str, str], budgets: list[int]) -> list[int]:
    ids = []
    for i, budget in enumerate(budgets, start=1):
        r = client.post(
            "/api/v1/projects",
            json=project_payload(title=f"项目{i}", title_en=f"Project {i}", budget=budget),
            headers=admin,
        )
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    return ids


def session_payload(
    project_ids: list[int], deputies: list[str], **overrides: Any
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "title": "2027年区人大代表票决民生实事项目",
        "title_en": "2027 livelihood projects vote",
        "year": 2027,
        "project_ids": project_ids,
        "deputy_usernames": deputies,
        "budget_cap": 3_000_000,
        "max_selected": None,
        "max_for_per_ballot": None,
        "threshold": "majority_of_all",
        "on_no_fit": "skip",
    }
    data.update(overrides)
    return data


def create_session(client: TestClient, admin: dict[str, str], payload: dict[str, Any]) -> int:
    r = client.post("/api/v1/voting-sessions", json=payload, headers=admin)
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


# A hall vote's close names its scrutineers (surveys.voting.scrutiny); a remote one may too.
SCRUTINEERS = ["监票人甲", "监票人乙"]


def act(client: TestClient, admin: dict[str, str], sid: int, action: str) -> dict[str, Any]:
    body = {"scrutineers": SCRUTINEERS} if action == "close" else None
    r = client.post(f"/api/v1/voting-sessions/{sid}/{action}", json=body, headers=admin)
    assert r.status_code == 200, r.text
    return dict(r.json())


def vote(
    client: TestClient, headers: dict[str, str], sid: int, choices: dict[int, str]
) -> dict[str, Any]:
    from tests.conftest import SECRETS

    r = client.post(
        f"/api/v1/voting-sessions/{sid}/ballots",
        json={"choices": {str(k): v for k, v in choices.items()}},
        headers=headers,
    )
    assert r.status_code == 201, r.text
    SECRETS.add(r.json()["receipt"])
    return dict(r.json())
