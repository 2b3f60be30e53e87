"""Factories for test data: accounts and their tokens."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlmodel import Session

from service.models import Role, User, UserCreate
from service.users import create_user

PASSWORD = "correct-horse-battery"


def make_user(
    session: Session,
    role: Role | str = Role.admin,
    username: str | None = None,
    password: str = PASSWORD,
) -> User:
    """Create and commit an account."""
    role = Role(role)
    user = create_user(
        session,
        data=UserCreate(username=username or f"{role.value}1", role=role, password=password),
    )
    session.commit()
    session.refresh(user)
    return user


def login(client: TestClient, username: str, password: str = PASSWORD) -> dict[str, str]:
    """Bearer headers for the account."""
    r = client.post("/api/v1/auth/token", data={"username": username, "password": password})
    assert r.status_code == 200, r.text
    token = r.json()["access_token"]
    from tests.conftest import SECRETS

    SECRETS.update({token, password})
    return {"Authorization": f"Bearer {token}"}


def headers_for(
    client: TestClient, session: Session, role: Role | str, username: str | None = None
) -> dict[str, str]:
    """Create an account of the role and return its bearer headers."""
    user = make_user(session, role, username)
    return login(client, user.username)
