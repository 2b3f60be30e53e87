"""Faults of the database, answered fast and clearly, on both databases.

* The database refuses connections mid-run (PostgreSQL: the database stops allowing
  connections and its sessions are terminated; SQLite: its directory disappears and the
  connections are dropped): the API answers JSON 503 with Retry-After naming the database,
  pages a friendly page, ``/healthz`` 503 saying what is down; once the database is back the
  same process serves again with no restart.
* Another connection holds the write lock for 15 s: the response post and login answer 503
  with Retry-After within the stated bound, and the response is stored once after the retry.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from service.db import LOCK_WAIT_MS
from tests.factories import PASSWORD
from tests.hardening.conftest import add_figure, backend_of
from tests.hardening.world import World
from tests.surveys.forms.factories import response_body

# The bound a request may wait on a held lock: the writer's quick try (0.1 s) and the lock
# bound, plus slack for a loaded test machine.
LOCK_BOUND_S = LOCK_WAIT_MS / 1000 + 2.5
# An unreachable database must answer at once (no lock wait, no connect retry loop).
DOWN_BOUND_S = 3.0
# What the test client answers (its own response class).
Reply = Any
HTML = {"Accept": "text/html,application/xhtml+xml"}


def _timed(call: Callable[[], Reply]) -> tuple[Reply, float]:
    t0 = time.perf_counter()
    r = call()
    return r, time.perf_counter() - t0


def _until_ok(call: Callable[[], Reply], timeout: float = 15) -> Reply:
    deadline = time.monotonic() + timeout
    while True:
        r = call()
        if r.status_code < 500 or time.monotonic() > deadline:
            return r
        time.sleep(0.2)


# --- making the database refuse connections -------------------------------------------------


@contextmanager
def _database_down(app: FastAPI, url: str) -> Iterator[None]:
    """The app's database refuses connections inside the block; it is back afterwards."""
    if backend_of(url) == "postgres":
        name = make_url(url).database
        admin = create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :n AND pid <> pg_backend_pid()"
                ),
                {"n": name},
            )
        try:
            yield
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
            admin.dispose()
        return
    # SQLite: the volume holding the file goes away. An open connection keeps the file it
    # opened, so the connections are dropped too (as when the disk fails under them).
    path = Path(make_url(url).database or "")
    folder, away = path.parent, path.parent.with_name(path.parent.name + "-away")
    folder.rename(away)
    app.state.engine.dispose()
    app.state.response_writer.stop()
    try:
        yield
    finally:
        away.rename(folder)


def _check_unavailable_api(r: Reply, seconds: float, what: str) -> None:
    assert r.status_code == 503, (what, r.status_code, r.text[:300])
    assert r.headers["content-type"].startswith("application/json"), what
    assert int(r.headers["retry-after"]) >= 1, what
    assert "database" in r.json()["detail"].lower(), what
    assert seconds < DOWN_BOUND_S, (what, seconds)


def test_database_down_answers_503_everywhere_and_recovers(
    client: TestClient, app: FastAPI, world: World, database_url: str
) -> None:
    backend = backend_of(database_url)
    cid = world.campaign_id
    evaluator = world.tokens["evaluator"]
    login = {"username": "h-eval", "password": PASSWORD}
    api: dict[str, Callable[[], Reply]] = {
        "form": lambda: client.get(f"/api/v1/campaigns/{cid}/form"),
        "indicators": lambda: client.get(f"/api/v1/campaigns/{cid}/indicators", headers=evaluator),
        "login": lambda: client.post("/api/v1/auth/token", data=login),
        "response": lambda: client.post(f"/api/v1/campaigns/{cid}/responses", json=response_body()),
    }
    assert client.get("/healthz").status_code == 200
    worst = 0.0
    with _database_down(app, database_url):
        r, s = _timed(lambda: client.get("/healthz"))
        assert r.status_code == 503 and r.json()["down"] == ["database"], r.text
        assert int(r.headers["retry-after"]) >= 1 and s < DOWN_BOUND_S
        worst = max(worst, s)
        for what, call in api.items():
            r, s = _timed(call)
            _check_unavailable_api(r, s, what)
            worst = max(worst, s)
        # Pages: a friendly page in the page's language, never JSON nor a bare 500.
        for lang, words in (("zh-CN", "数据库暂时无法连接"), ("en", "database cannot be reached")):
            for path in (f"/s/{cid}", "/projects", "/login"):
                r, s = _timed(partial(client.get, f"{path}?lang={lang}", headers=HTML))
                if path == "/login" and r.status_code == 200:
                    continue  # the login page itself needs no database
                assert r.status_code == 503, (path, r.status_code)
                assert r.headers["content-type"].startswith("text/html"), path
                assert words in r.text and "Retry-After" not in r.text, path
                assert int(r.headers["retry-after"]) >= 1 and s < DOWN_BOUND_S
                worst = max(worst, s)
    # Back: the same process serves again by itself.
    t0 = time.perf_counter()
    assert _until_ok(lambda: client.get("/healthz")).status_code == 200
    recovered = time.perf_counter() - t0
    assert _until_ok(api["response"]).status_code == 201
    assert _until_ok(api["login"]).status_code == 200
    assert _until_ok(api["indicators"]).status_code == 200
    assert _until_ok(lambda: client.get(f"/s/{cid}", headers=HTML)).status_code == 200
    add_figure("database down: slowest 503 (ms)", round(worst * 1000), backend)
    add_figure("database back: healthz ok after (ms)", round(recovered * 1000), backend)


# --- a lock held elsewhere ------------------------------------------------------------------

HOLD_S = 15

_SQLITE_HOLDER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("ROLLBACK")
"""


@contextmanager
def _lock_held(url: str) -> Iterator[None]:
    """Another process (SQLite) or connection (PostgreSQL) holds the write locks the response
    post and login need, for up to HOLD_S seconds or until the block ends."""
    if backend_of(url) == "sqlite":
        path = make_url(url).database or ""
        proc = subprocess.Popen(
            [sys.executable, "-c", _SQLITE_HOLDER, path, str(HOLD_S)],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
            yield
        finally:
            proc.kill()
            proc.wait(timeout=10)
        return
    engine = create_engine(url)
    release = threading.Event()
    holding = threading.Event()

    def _hold() -> None:
        with engine.begin() as conn:
            # Plain reads go on; inserts of responses, answers and tokens wait.
            conn.execute(text("LOCK TABLE survey_response, auth_token IN SHARE MODE"))
            holding.set()
            release.wait(HOLD_S)

    t = threading.Thread(target=_hold, daemon=True)
    t.start()
    assert holding.wait(10)
    try:
        yield
    finally:
        release.set()
        t.join(timeout=10)
        engine.dispose()


def test_held_lock_answers_503_within_the_bound(
    client: TestClient, world: World, database_url: str
) -> None:
    backend = backend_of(database_url)
    cid = world.campaign_id
    body = response_body()
    login = {"username": "h-eval", "password": PASSWORD}
    with _lock_held(database_url):
        r, waited_post = _timed(
            lambda: client.post(f"/api/v1/campaigns/{cid}/responses", json=body)
        )
        assert r.status_code == 503, r.text
        assert int(r.headers["retry-after"]) >= 1
        assert waited_post < LOCK_BOUND_S, waited_post
        r, waited_login = _timed(lambda: client.post("/api/v1/auth/token", data=login))
        assert r.status_code == 503, r.text
        assert int(r.headers["retry-after"]) >= 1
        assert waited_login < LOCK_BOUND_S, waited_login
        # Reads are not held up.
        r, waited_read = _timed(lambda: client.get("/healthz"))
        assert r.status_code == 200 and waited_read < 1.0
    # The client's retry (same submission id) is stored, once.
    r = _until_ok(lambda: client.post(f"/api/v1/campaigns/{cid}/responses", json=body))
    assert r.status_code == 201, r.text
    again = client.post(f"/api/v1/campaigns/{cid}/responses", json=body)
    assert again.status_code in (200, 201) and again.json()["id"] == r.json()["id"]
    assert client.post("/api/v1/auth/token", data=login).status_code == 200
    add_figure(
        "held lock: response post answered 503 after (ms)", round(waited_post * 1000), backend
    )
    add_figure("held lock: login answered 503 after (ms)", round(waited_login * 1000), backend)


# --- pages never answer JSON ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("lang", "words"), [("zh-CN", "找不到这个页面"), ("en", "This page does not exist")]
)
def test_unknown_pages_answer_a_page_in_their_language(
    client: TestClient, lang: str, words: str
) -> None:
    for path in ("/admin/no-such-page", "/projects/no/such", "/no/such/page"):
        r = client.get(path, headers=HTML | {"Accept-Language": "en" if lang == "en" else "zh"})
        assert r.status_code == 404, path
        assert r.headers["content-type"].startswith("text/html"), path
        assert words in r.text and '"detail"' not in r.text, path
    # The API keeps JSON, whatever the client accepts; a client asking for JSON only gets it.
    r = client.get("/api/v1/no-such-thing", headers=HTML)
    assert r.status_code == 404 and r.json() == {"detail": "Not Found"}
    r = client.get("/no/such/page", headers={"Accept": "application/json"})
    assert r.status_code == 404 and r.json() == {"detail": "Not Found"}


def test_page_errors_are_pages(make_app: Callable[..., FastAPI]) -> None:
    app = make_app()

    @app.get("/boom-page")
    def _boom() -> None:
        raise RuntimeError("a bug")

    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.get("/boom-page?lang=en", headers=HTML)
        assert r.status_code == 500 and r.headers["content-type"].startswith("text/html")
        assert "Something went wrong on the server" in r.text and "a bug" not in r.text
        r = c.get("/s/not-a-number?lang=en", headers=HTML)  # a bad path parameter: 422
        assert r.status_code == 422 and r.headers["content-type"].startswith("text/html")
        r = c.get("/api/v1/campaigns/not-a-number/form", headers=HTML)
        assert r.status_code == 422 and isinstance(r.json()["detail"], list)


def test_blank_proposal_title_is_refused(client: TestClient) -> None:
    r = client.post("/api/v1/proposals", json={"title": "   \t ", "category": "养老"})
    assert r.status_code == 422
    assert any(e["loc"][-1] == "title" for e in r.json()["detail"]), r.text
    client.get("/projects")
    r = client.post(
        "/projects/proposals",
        data={"title": "    ", "category": "养老", "description": "在小区里装路灯"},
        headers=HTML,
        follow_redirects=False,
    )
    assert r.status_code == 422 and r.headers["content-type"].startswith("text/html")
    assert 'id="err-title"' in r.text and 'id="err-category"' not in r.text
    assert "在小区里装路灯" in r.text  # the input is kept
    # An empty form: every required field named beside it, no JSON.
    r = client.post("/projects/proposals", data={}, headers=HTML, follow_redirects=False)
    assert r.status_code == 422 and 'id="err-title"' in r.text and 'id="err-category"' in r.text
    assert client.get("/api/v1/proposals").json() == []
