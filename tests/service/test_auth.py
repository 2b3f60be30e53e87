"""Accounts, tokens, roles, throttling and page sessions."""

from __future__ import annotations

import re
import time

from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from service.auth import current_user
from service.models import AuthToken, Role
from tests.factories import PASSWORD, headers_for, login, make_user


def _required_roles(route: APIRoute) -> frozenset[Role] | None:
    """Roles a route admits: all roles for CurrentUser-only routes, None for public routes."""
    found: frozenset[Role] | None = None
    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        roles = getattr(dep.call, "minyi_roles", None)
        if roles is not None:
            return frozenset(roles)
        if dep.call is current_user:
            found = frozenset(Role)
        stack.extend(dep.dependencies)
    return found


def _api_routes(routes):  # type: ignore[no-untyped-def]
    """Every APIRoute, looking inside included routers (FastAPI mounts them lazily)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _api_routes(inner.routes)
        elif isinstance(route, APIRoute):
            yield route


def _protected_routes(app) -> list[tuple[str, str, frozenset[Role]]]:  # type: ignore[no-untyped-def]
    out = []
    for route in _api_routes(app.routes):
        if not isinstance(route, APIRoute) or not route.path.startswith("/api/"):
            continue
        roles = _required_roles(route)
        if roles is None:
            continue
        path = re.sub(r"\{[^}]+\}", "1", route.path)
        for method in route.methods:
            out.append((method, path, roles))
    return out


def test_every_protected_endpoint_401_without_token_and_403_for_wrong_role(
    client: TestClient, session: Session
) -> None:
    routes = _protected_routes(client.app)
    assert len(routes) >= 6
    headers = {role: headers_for(client, session, role, f"{role.value}-x") for role in Role}
    checked_403 = 0
    for method, path, roles in routes:
        r = client.request(method, path)
        assert r.status_code == 401, (method, path, r.status_code, r.text)
        assert r.headers.get("www-authenticate") == "Bearer"
        for role in Role:
            if role in roles:
                continue
            r = client.request(method, path, headers=headers[role])
            assert r.status_code == 403, (method, path, role, r.status_code, r.text)
            checked_403 += 1
    assert checked_403 > 0


def test_login_me_and_revoked_token(client: TestClient, session: Session) -> None:
    make_user(session, Role.evaluator, "eva")
    h = login(client, "eva")
    me = client.get("/api/v1/users/me", headers=h)
    assert (
        me.status_code == 200
        and me.json()["username"] == "eva"
        and me.json()["role"] == "evaluator"
    )
    assert "password_hash" not in me.json()
    assert client.post("/api/v1/auth/logout", headers=h).status_code == 204
    assert client.get("/api/v1/users/me", headers=h).status_code == 401
    # Only the hash of a token is stored.
    raw = h["Authorization"].split()[1]
    assert all(raw not in t.token_hash for t in session.exec(select(AuthToken)))


def test_wrong_password_does_not_reveal_whether_user_exists(
    client: TestClient, session: Session
) -> None:
    make_user(session, Role.admin, "root")
    a = client.post("/api/v1/auth/token", data={"username": "root", "password": "wrong-password"})
    b = client.post("/api/v1/auth/token", data={"username": "nobody", "password": "wrong-password"})
    assert a.status_code == b.status_code == 401
    assert a.json() == b.json()


def test_failed_logins_lock_for_a_while_then_owner_gets_back(make_app) -> None:  # type: ignore[no-untyped-def]
    # A lock long enough that a slow machine still sees it, short enough to wait out.
    app = make_app(login_max_failures=3, login_lock_max_seconds=8)
    token_url = "/api/v1/auth/token"
    with TestClient(app) as client, Session(app.state.engine) as s:
        make_user(s, Role.admin, "boss")
        for _ in range(3):
            r = client.post(token_url, data={"username": "boss", "password": "nope-nope"})
            assert r.status_code == 401
        locked = client.post(token_url, data={"username": "boss", "password": PASSWORD})
        assert locked.status_code == 429
        wait = int(locked.headers["retry-after"])
        assert 1 <= wait <= 9
        ghost = [
            client.post(token_url, data={"username": "ghost", "password": "x" * 8})
            for _ in range(4)
        ]
        assert ghost[-1].status_code == 429  # unknown names lock the same way
        # The lock is temporary: once Retry-After has passed, the owner logs in.
        time.sleep(wait + 0.2)
        assert (
            client.post(token_url, data={"username": "boss", "password": PASSWORD}).status_code
            == 200
        )


def test_admin_manages_users(client: TestClient, session: Session) -> None:
    h = headers_for(client, session, Role.admin, "chief")
    r = client.post(
        "/api/v1/users",
        headers=h,
        json={"username": "dep1", "role": "deputy", "password": "longenough1"},
    )
    assert r.status_code == 201, r.text
    uid = r.json()["id"]
    assert (
        client.post(
            "/api/v1/users",
            headers=h,
            json={"username": "dep1", "role": "deputy", "password": "longenough1"},
        ).status_code
        == 409
    )
    bad = client.post(
        "/api/v1/users", headers=h, json={"username": "d", "role": "mayor", "password": "short"}
    )
    assert bad.status_code == 422
    fields = {tuple(e["loc"]) for e in bad.json()["detail"]}
    assert {("body", "username"), ("body", "role"), ("body", "password")} <= fields
    assert (
        client.patch(f"/api/v1/users/{uid}", headers=h, json={"display_name": "代表一"}).json()[
            "display_name"
        ]
        == "代表一"
    )
    dh = login(client, "dep1", "longenough1")
    assert client.delete(f"/api/v1/users/{uid}", headers=h).json()["is_active"] is False
    assert client.get("/api/v1/users/me", headers=dh).status_code == 401
    assert client.get("/api/v1/users/999", headers=h).status_code == 404


def test_healthz_version_docs_offline(client: TestClient) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    assert client.get("/api/v1/version").json()["version"]
    docs = client.get("/docs")
    assert docs.status_code == 200 and "http" not in docs.text.replace("http-equiv", "")
    assert client.get("/static/vendor/swagger-ui/swagger-ui-bundle.js").status_code == 200
    redoc = client.get("/redoc")
    assert redoc.status_code == 200 and "http" not in redoc.text.replace("http-equiv", "")
    assert client.get("/static/vendor/redoc/redoc.standalone.js").status_code == 200
    assert client.get("/static/plotly/plotly.min.js").status_code == 200
    csp = docs.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self';" in csp


def _login_csrf(client: TestClient) -> str:
    page = client.get("/login")
    m = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert m
    return m.group(1)


def test_page_login_cookie_and_csrf(client: TestClient, session: Session) -> None:
    make_user(session, Role.evaluator, "pageuser")
    # Without the login form's CSRF token the login is refused even with the right password.
    bare = client.post(
        "/login", data={"username": "pageuser", "password": PASSWORD}, follow_redirects=False
    )
    assert bare.status_code == 403
    form = {
        "username": "pageuser",
        "password": PASSWORD,
        "next": "//evil.example",
        "csrf_token": _login_csrf(client),
    }
    r = client.post("/login", data=form, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/"
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "samesite=lax" in cookie.lower()
    home = client.get("/")
    assert "pageuser" in home.text
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', home.text)
    assert token
    # A cookie-authenticated write without the CSRF token is refused.
    assert client.post("/logout", data={}, follow_redirects=False).status_code == 403
    out = client.post("/logout", data={"csrf_token": token.group(1)}, follow_redirects=False)
    assert out.status_code == 303
    assert "pageuser" not in client.get("/").text


def test_login_page_wrong_password_is_friendly(client: TestClient) -> None:
    form = {"username": "x1", "password": "wrongwrong", "csrf_token": _login_csrf(client)}
    r = client.post("/login", data=form)
    assert r.status_code == 401 and "用户名或密码错误" in r.text and 'value="x1"' in r.text
    form["csrf_token"] = _login_csrf(client)
    assert "Incorrect username" in client.post("/login?lang=en", data=form).text


def test_secure_cookie_flag_behind_https(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(secure_cookies=True)
    with TestClient(app, base_url="https://testserver") as client, Session(app.state.engine) as s:
        make_user(s, Role.admin, "sec")
        form = {"username": "sec", "password": PASSWORD, "csrf_token": _login_csrf(client)}
        r = client.post("/login", data=form, follow_redirects=False)
        assert r.status_code == 303 and "secure" in r.headers["set-cookie"].lower()


def test_body_limit(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(max_body_bytes=1000)
    with TestClient(app) as client:
        r = client.post(
            "/api/v1/auth/token",
            content=b"x" * 5000,
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert r.status_code == 413


def test_plotly_js_is_served_gzipped_and_cacheable(client: TestClient) -> None:
    from pathlib import Path

    import plotly

    raw = (Path(plotly.__file__).parent / "package_data" / "plotly.min.js").read_bytes()
    packed = client.get("/static/plotly/plotly.min.js", headers={"Accept-Encoding": "gzip"})
    assert packed.headers["content-encoding"] == "gzip"
    assert int(packed.headers["content-length"]) < len(raw) / 2
    assert packed.content == raw  # httpx undoes the gzip
    plain = client.get("/static/plotly/plotly.min.js", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.content == raw
    etag = plain.headers["etag"]
    again = client.get("/static/plotly/plotly.min.js", headers={"If-None-Match": etag})
    assert again.status_code == 304 and "max-age" in again.headers["cache-control"]
