"""Web security: CSRF on every cookie-authenticated write, cookie flags, CSP on every page,
no inline script in any template, no framing, login throttling, no secret in server logs."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from service.auth import CSRF_HEADER, SESSION_COOKIE, csrf_token_for
from tests.conftest import SECRETS
from tests.factories import PASSWORD
from tests.hardening.conftest import add_figure, backend_of
from tests.hardening.routes import iter_routes, page_post_routes, uses_session_user
from tests.hardening.server import ServerProcess
from tests.hardening.world import World, bearer_for, counts, new_response, seed

TEMPLATES = Path(__file__).resolve().parents[2] / "frontend" / "templates"
WRITES = {"POST", "PUT", "PATCH", "DELETE"}


def _fill(path: str, world: World) -> str:
    ids = {"campaign_id": world.campaign_id, "session_id": world.voting_session_id or 1}
    return re.sub(r"\{([^}]+)\}", lambda m: str(ids.get(m.group(1), 1)), path)


def _cookie_for(app: FastAPI, username: str) -> str:
    raw = bearer_for(app.state.engine, username)["Authorization"].split()[1]
    return raw


def test_every_cookie_authenticated_write_needs_the_csrf_token(
    client: TestClient, app: FastAPI, world: World
) -> None:
    """A logged-in browser tricked into posting (no token) changes nothing: 403 everywhere."""
    writes = [
        (method, r.path)
        for r in iter_routes(app.routes)
        if uses_session_user(r)
        for method in sorted(r.methods & WRITES)
    ]
    pages = [r.path for r in page_post_routes(app)]
    assert "/logout" in pages and len(writes) >= 10
    failures = []
    for role in ("admin", "evaluator", "deputy"):
        name = {"admin": "h-admin", "evaluator": "h-eval", "deputy": world.deputies[0]}[role]
        cookie = _cookie_for(app, name)
        client.cookies.clear()
        client.cookies.set(SESSION_COOKIE, cookie)
        for method, path in writes:
            url = _fill(path, world)
            before = counts(app.state.engine)
            r = client.request(method, url, data={"csrf_token": "forged"})
            if r.status_code != 403:
                failures.append(f"{method} {path} as {role} without token: {r.status_code}")
            if counts(app.state.engine) != before:
                failures.append(f"{method} {path} as {role} without token changed data")
            wrong = csrf_token_for(app.state.settings, "another-session")
            r = client.request(method, url, headers={CSRF_HEADER: wrong})
            if r.status_code != 403:
                failures.append(f"{method} {path} as {role} with another token: {r.status_code}")
    # With the right token the cookie works (here: logout ends the session).
    client.cookies.clear()
    cookie = _cookie_for(app, "h-admin")
    client.cookies.set(SESSION_COOKIE, cookie)
    token = csrf_token_for(app.state.settings, cookie)
    r = client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303
    assert client.get("/api/v1/users/me").status_code == 401
    add_figure("web: cookie-authenticated writes checked for CSRF", len(writes))
    assert not failures, "\n".join(failures)


def _login_by_form(client: TestClient, username: str, password: str) -> httpx.Response:
    page = client.get("/login")
    m = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert m
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": m.group(1)},
        follow_redirects=False,
    )


def _set_cookies(r: httpx.Response) -> dict[str, str]:
    out = {}
    for header in r.headers.get_list("set-cookie"):
        out[header.split("=", 1)[0]] = header.lower()
    return out


@pytest.mark.parametrize("secure", [False, True])
def test_cookies_are_httponly_samesite_and_secure_behind_https(
    make_app: Callable[..., FastAPI], secure: bool
) -> None:
    app = make_app(secure_cookies=secure)
    with TestClient(app, base_url="https://testserver") as client:
        seed(client, app.state.engine, responses=0)
        page = client.get("/login", params={"lang": "en"})
        r = _login_by_form(client, "h-admin", PASSWORD)
        assert r.status_code == 303, r.text
    cookies = _set_cookies(page) | _set_cookies(r)
    assert "lang" in cookies
    session = cookies[SESSION_COOKIE]
    assert "httponly" in session and "samesite=lax" in session
    login_csrf = _set_cookies(page)["minyi_login_csrf"]
    assert "httponly" in login_csrf and "samesite=strict" in login_csrf
    for name, header in cookies.items():
        if "max-age=0" in header:
            continue  # a deletion carries no value
        assert ("; secure" in header) is secure, (name, header)
        assert "samesite" in header, (name, header)


def _csp_ok(csp: str) -> list[str]:
    directives = {d.split()[0]: d.split()[1:] for d in csp.split(";") if d.strip()}
    problems = []
    script = directives.get("script-src", directives.get("default-src", []))
    if script != ["'self'"]:
        problems.append(f"script-src is {script}")
    if directives.get("frame-ancestors") != ["'none'"]:
        problems.append("frame-ancestors is not 'none'")
    if directives.get("object-src") != ["'none'"]:
        problems.append("object-src is not 'none'")
    for name, values in directives.items():
        for v in values:
            outside = "://" in v or v in ("*", "http:", "https:", "data:")
            if outside and not (v == "data:" and name in ("img-src", "font-src")):
                problems.append(f"{name} allows {v}")
            if v == "'unsafe-inline'" and name != "style-src":
                problems.append(f"{name} allows 'unsafe-inline'")
    return problems


def test_every_page_has_a_strict_csp_and_no_inline_script(
    client: TestClient, app: FastAPI, world: World
) -> None:
    cookie = _cookie_for(app, "h-admin")
    failures = []
    checked = 0
    paths = [
        _fill(r.path, world)
        for r in iter_routes(app.routes)
        if "GET" in r.methods and not r.path.startswith(("/api/", "/openapi"))
    ]
    paths += ["/api/v1/version", "/api/v1/no-such-thing", "/static/css/minyi.css", "/docs"]
    for path in paths:
        for cookies in ({}, {SESSION_COOKIE: cookie}):
            client.cookies.clear()
            for k, v in cookies.items():
                client.cookies.set(k, v)
            r = client.get(path)
            checked += 1
            csp = r.headers.get("content-security-policy", "")
            failures += [f"{path}: {p}" for p in _csp_ok(csp)]
            if r.headers.get("x-frame-options") != "DENY":
                failures.append(f"{path}: X-Frame-Options missing")
            if r.headers.get("x-content-type-options") != "nosniff":
                failures.append(f"{path}: nosniff missing")
            if "text/html" in r.headers.get("content-type", ""):
                failures += [f"{path}: {p}" for p in inline_script_problems(r.text)]
    add_figure("web: responses checked for CSP and inline script", checked)
    assert not failures, "\n".join(failures)


SCRIPT_TAG = re.compile(r"<script\b([^>]*)>", re.IGNORECASE)
EVENT_ATTR = re.compile(r"<[^>]*\son[a-z]+\s*=", re.IGNORECASE)
JS_URL = re.compile(r"""(href|src|action)\s*=\s*["']?\s*javascript:""", re.IGNORECASE)


def inline_script_problems(html: str) -> list[str]:
    """Inline scripts (other than JSON data blocks), event-handler attributes, javascript: URLs."""
    problems = []
    for m in SCRIPT_TAG.finditer(html):
        attrs = m.group(1)
        if re.search(r"\bsrc\s*=", attrs):
            continue
        if re.search(r"""type\s*=\s*["']application/json["']""", attrs):
            continue
        problems.append(f"inline <script{attrs}>")
    problems += [f"event handler attribute: {m.group(0)[:80]}" for m in EVENT_ATTR.finditer(html)]
    problems += [f"javascript: URL: {m.group(0)}" for m in JS_URL.finditer(html)]
    return problems


def test_no_template_has_inline_script_or_event_handlers() -> None:
    templates = sorted(TEMPLATES.rglob("*.html"))
    assert len(templates) >= 4
    failures = []
    for path in templates:
        failures += [
            f"{path.relative_to(TEMPLATES)}: {p}" for p in inline_script_problems(path.read_text())
        ]
    add_figure("web: templates scanned for inline script", len(templates))
    assert not failures, "\n".join(failures)


def test_the_scanner_catches_what_it_should() -> None:
    assert inline_script_problems("<script>alert(1)</script>")
    assert inline_script_problems('<button onclick="x()">')
    assert inline_script_problems('<a href="javascript:alert(1)">')
    assert not inline_script_problems('<script src="/static/js/a.js"></script>')
    assert not inline_script_problems('<script type="application/json" id="d">{}</script>')


def test_login_page_is_throttled_like_the_api(make_app: Callable[..., FastAPI]) -> None:
    app = make_app(login_max_failures=3, login_lock_max_seconds=60)
    with TestClient(app) as client:
        seed(client, app.state.engine, responses=0)
        statuses = [
            _login_by_form(client, "h-admin", "wrong-password").status_code for _ in range(4)
        ]
        assert statuses[:3] == [401, 401, 401] and statuses[3] == 429
        # Even the right password waits out the lock; the API agrees.
        assert _login_by_form(client, "h-admin", PASSWORD).status_code == 429
        r = client.post("/api/v1/auth/token", data={"username": "h-admin", "password": PASSWORD})
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1


@pytest.mark.slow
def test_server_logs_hold_no_password_token_code_or_ballot_link(
    make_app: Callable[..., FastAPI], database_url: str, tmp_path: Path
) -> None:
    """A real server with access logging on: its whole output is searched for secrets."""
    engine = make_app().state.engine
    server = ServerProcess(database_url, tmp_path, log_level="info")
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as c:
            world = seed(c, engine)
            admin = world.tokens["admin"]
            codes = c.post(
                f"/api/v1/campaigns/{world.invitation_campaign_id}/invitations",
                json={"count": 2},
                headers=admin,
            ).json()["codes"]
            # codes[0] travels in a link's query string, which this test client itself logs;
            # the server's log is searched for both below.
            SECRETS.add(codes[1])
            # An invitation link carries the code in the query string.
            c.get(f"/s/{world.invitation_campaign_id}", params={"code": codes[0]})
            c.get(
                f"/api/v1/campaigns/{world.invitation_campaign_id}/form", params={"code": codes[0]}
            )
            r = c.post(
                f"/api/v1/campaigns/{world.invitation_campaign_id}/responses",
                json=new_response(invitation_code=codes[1]),
            )
            assert r.status_code == 201, r.text
            bad = c.post(
                "/api/v1/auth/token", data={"username": "h-admin", "password": "Wr0ng-" + PASSWORD}
            )
            assert bad.status_code == 401
            SECRETS.add("Wr0ng-" + PASSWORD)
            receipts = []
            if world.voting:
                choices = {str(p): "for" for p in world.project_ids}
                r = c.post(
                    f"/api/v1/voting-sessions/{world.voting_session_id}/ballots",
                    json={"choices": choices},
                    headers=world.tokens["deputy"],
                )
                assert r.status_code == 201, r.text
                receipts.append(r.json()["receipt"])
    finally:
        server.stop()
    log = server.log.read_text(encoding="utf-8", errors="replace")
    assert "POST /api/v1/auth/token" in log, "access logging was on"
    tokens = [h["Authorization"].split()[1] for h in world.tokens.values()]
    leaked = [s for s in [PASSWORD, "Wr0ng-" + PASSWORD, *codes, *tokens, *receipts] if s in log]
    assert not leaked, f"{len(leaked)} secrets in the server log"
    # Nothing in a log line names the deputy next to the ballot.
    for line in log.splitlines():
        if "/ballots" in line:
            assert all(d not in line for d in world.deputies), line
    add_figure(
        "web: server log lines searched for secrets", log.count("\n"), backend_of(database_url)
    )
