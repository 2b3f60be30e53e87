"""The password rule (creation, admin reset, own change, CLI) and revocation on a new password."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from service.auth import authenticate, issue_token, user_for_token
from service.cli import main as cli
from service.errors import Unauthorized
from service.models import Role, User
from service.passwords import MIN_LENGTH, common_passwords, password_problem
from service.users import set_password
from tests.conftest import SECRETS
from tests.factories import PASSWORD, headers_for, login, make_user

NEW_PASSWORD = "plum-river-lantern-42"

WEAK = {
    "aaaaaaaa": "at least 10 characters",
    " " * 8: "at least 10 characters",
    "a" * 12: "one character repeated",
    " " * 12: "one character repeated",
    "qwertyuiop": "commonly used",
    "Password123": "commonly used",  # the list is matched without regard to case
    "1234567890": "commonly used",
}


def test_rule_refuses_short_repeated_and_common_passwords() -> None:
    for password, reason in WEAK.items():
        problem = password_problem(password)
        assert problem and reason in problem, (password, problem)
    for ok in (PASSWORD, NEW_PASSWORD, "minyi-admin-demo", "minyi-eval-demo", "minyi-deputy-demo"):
        assert password_problem(ok) is None, ok
    listed = common_passwords()
    assert len(listed) > 1000 and all(len(p) >= MIN_LENGTH for p in listed)


def _reasons(response: Any) -> list[tuple[list[str | int], str]]:
    assert response.status_code == 422, response.text
    return [(e["loc"], e["msg"]) for e in response.json()["detail"]]


@pytest.mark.parametrize("weak", ["aaaaaaaaaaaa", "qwertyuiop", "short"])
def test_weak_password_is_a_422_naming_the_field(
    client: TestClient, session: Session, weak: str
) -> None:
    admin = headers_for(client, session, Role.admin, "chief")
    body = {"username": "newbie", "role": "evaluator", "password": weak}
    created = client.post("/api/v1/users", json=body, headers=admin)
    [(loc, msg)] = _reasons(created)
    assert loc == ["body", "password"] and "Password" in msg
    user = make_user(session, Role.evaluator, "eva")
    reset = client.patch(f"/api/v1/users/{user.id}", json={"password": weak}, headers=admin)
    [(loc, msg)] = _reasons(reset)
    assert loc == ["body", "password"] and "Password" in msg
    own = client.post(
        "/api/v1/users/me/password",
        json={"current_password": PASSWORD, "new_password": weak},
        headers=login(client, "eva"),
    )
    [(loc, msg)] = _reasons(own)
    assert loc == ["body", "new_password"] and "Password" in msg


def test_cli_refuses_a_weak_password() -> None:
    # Validation comes before any database work, so no database is needed.
    result = CliRunner().invoke(
        cli, ["users", "create", "--username", "clerk", "--role", "admin"], input="a" * 12 + "\n"
    )
    assert result.exit_code == 2
    assert "one character repeated" in result.output


def _page_session(client: TestClient, username: str) -> None:
    page = client.get("/login")
    m = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert m
    form = {"username": username, "password": PASSWORD, "csrf_token": m.group(1)}
    assert client.post("/login", data=form, follow_redirects=False).status_code == 303
    assert username in client.get("/").text


def test_admin_reset_revokes_tokens_and_page_sessions(
    app: FastAPI, client: TestClient, session: Session
) -> None:
    admin = headers_for(client, session, Role.admin, "chief")
    user = make_user(session, Role.evaluator, "eva")
    bearer = [login(client, "eva"), login(client, "eva")]
    with TestClient(app) as browser:
        _page_session(browser, "eva")
        # A change that is not a password leaves the sessions alone.
        r = client.patch(f"/api/v1/users/{user.id}", json={"display_name": "Eva"}, headers=admin)
        assert r.status_code == 200
        assert all(client.get("/api/v1/users/me", headers=h).status_code == 200 for h in bearer)
        SECRETS.add(NEW_PASSWORD)
        r = client.patch(f"/api/v1/users/{user.id}", json={"password": NEW_PASSWORD}, headers=admin)
        assert r.status_code == 200
        assert all(client.get("/api/v1/users/me", headers=h).status_code == 401 for h in bearer)
        assert "eva" not in browser.get("/").text
    # The old password is refused, the new one works; the admin's own token is untouched.
    old = client.post("/api/v1/auth/token", data={"username": "eva", "password": PASSWORD})
    assert old.status_code == 401
    assert client.get("/api/v1/users/me", headers=login(client, "eva", NEW_PASSWORD)).is_success
    assert client.get("/api/v1/users/me", headers=admin).status_code == 200


def test_own_password_change_needs_the_current_one_and_revokes(
    client: TestClient, session: Session
) -> None:
    make_user(session, Role.deputy, "dep")
    h, other = login(client, "dep"), login(client, "dep")
    url = "/api/v1/users/me/password"
    SECRETS.add(NEW_PASSWORD)
    wrong = client.post(
        url, json={"current_password": "not-my-password", "new_password": NEW_PASSWORD}, headers=h
    )
    assert wrong.status_code == 401
    assert client.get("/api/v1/users/me", headers=h).status_code == 200
    body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    assert client.post(url, json=body, headers=h).status_code == 204
    # Every session of the user ends, the one that made the change included.
    assert client.get("/api/v1/users/me", headers=h).status_code == 401
    assert client.get("/api/v1/users/me", headers=other).status_code == 401
    assert client.get("/api/v1/users/me", headers=login(client, "dep", NEW_PASSWORD)).is_success


def test_wrong_current_passwords_lock_the_change_but_not_the_login(
    make_app: Callable[..., FastAPI],
) -> None:
    app = make_app(login_max_failures=2)
    url = "/api/v1/users/me/password"
    with TestClient(app) as client, Session(app.state.engine) as s:
        make_user(s, Role.evaluator, "eva")
        h = login(client, "eva")
        guesses = [
            client.post(
                url,
                json={"current_password": f"guess-{i}", "new_password": NEW_PASSWORD},
                headers=h,
            ).status_code
            for i in range(3)
        ]
        assert guesses == [401, 401, 429]
        body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
        assert client.post(url, json=body, headers=h).status_code == 429
        # The owner still logs in, and the token in hand still works.
        assert client.get("/api/v1/users/me", headers=login(client, "eva")).is_success
        assert client.get("/api/v1/users/me", headers=h).is_success


def test_logins_typed_with_a_colon_cannot_lock_a_password_change(
    make_app: Callable[..., FastAPI],
) -> None:
    app = make_app(login_max_failures=2)
    with TestClient(app) as client, Session(app.state.engine) as s:
        user = make_user(s, Role.evaluator, "eva")
        h = login(client, "eva")
        for _ in range(4):
            client.post(
                "/api/v1/auth/token",
                data={"username": f"password-change:{user.id}", "password": "x"},
            )
        body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
        assert client.post("/api/v1/users/me/password", json=body, headers=h).is_success


def test_a_login_checked_before_a_reset_gets_no_token_after_it(
    app: FastAPI, session: Session
) -> None:
    """The race a reset can lose: the login has checked the old password, the reset commits,
    then the login issues its token. It is refused, and a token issued before the reset
    committed is revoked by it."""
    make_user(session, Role.evaluator, "eva")
    engine, settings = app.state.engine, app.state.settings
    checked = authenticate(engine=engine, settings=settings, username="eva", password=PASSWORD)
    with Session(engine) as other:
        stored = other.exec(select(User).where(User.username == "eva")).one()
        SECRETS.add(NEW_PASSWORD)
        set_password(other, user=stored, password=NEW_PASSWORD)
        other.commit()
    with Session(engine) as late, pytest.raises(Unauthorized):
        issue_token(late, user=checked, settings=settings)

    again = authenticate(engine=engine, settings=settings, username="eva", password=NEW_PASSWORD)
    with Session(engine) as first:
        raw, _ = issue_token(first, user=again, settings=settings)
        first.commit()
    with Session(engine) as other:
        stored = other.exec(select(User).where(User.username == "eva")).one()
        set_password(other, user=stored, password=NEW_PASSWORD + "x")
        other.commit()
    with Session(engine) as check:
        assert user_for_token(check, raw) is None
