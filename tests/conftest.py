"""Fixtures: every database test runs on SQLite and on PostgreSQL, on a migrated schema."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from service.config import Settings
from service.db import upgrade
from service.main import create_app
from service.schema import load_all_models

POSTGRES_URL = os.environ.get(
    "MINYI_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
BACKENDS = [b for b in os.environ.get("MINYI_TEST_BACKENDS", "sqlite,postgres").split(",") if b]
# The data set the vote and sentiment tests read (Pabulib elections, labelled reviews) lies in
# `shared/` beside the checkout by default; MINYI_SHARED_DIR points elsewhere.
SHARED = Path(
    os.environ.get("MINYI_SHARED_DIR") or Path(__file__).resolve().parents[1].parent / "shared"
)


# Every log record of the run goes to one file; at the end it is searched for secrets.
LOG_FILE = Path(os.environ.get("MINYI_TEST_LOG", "")) if os.environ.get("MINYI_TEST_LOG") else None
SECRETS: set[str] = set()
TEST_SECRET_KEY = "test-secret-key-0123456789abcdef0123456789"


def pytest_configure(config: pytest.Config) -> None:
    import logging
    import tempfile

    global LOG_FILE
    if LOG_FILE is None:
        LOG_FILE = Path(tempfile.mkstemp(prefix="minyi-test-", suffix=".log")[1])
    handler = logging.FileHandler(LOG_FILE, encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "httpx", "sqlalchemy", "alembic"):
        logging.getLogger(name).addHandler(handler)
    SECRETS.add(TEST_SECRET_KEY)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if any password, token or key used in it appears in the log output."""
    from tests.factories import PASSWORD

    if LOG_FILE is None or not LOG_FILE.exists():
        return
    text_ = LOG_FILE.read_text(encoding="utf-8", errors="replace")
    leaked = sorted(s for s in SECRETS | {PASSWORD} if s and s in text_)
    lines = text_.count("\n")
    if leaked:
        print(f"\nSECRET LEAK: {len(leaked)} secret(s) found in the log output ({LOG_FILE})")  # noqa: T201
        session.exitstatus = 1
    else:
        print(f"\nlog check: {lines} log lines, {len(SECRETS) + 1} secrets searched, none found")  # noqa: T201


def _reset_postgres(url: str) -> None:
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A freshly migrated database of each backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'minyi-test.db'}"
    else:
        url = POSTGRES_URL
        _reset_postgres(url)
    upgrade(url)
    return url


def wipe(engine: Engine) -> None:
    """Empty every table (keeps the schema and alembic_version)."""
    tables = [t for t in reversed(load_all_models().sorted_tables)]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for t in tables:
                conn.execute(t.delete())
            has_seq = conn.execute(
                text("SELECT name FROM sqlite_master WHERE name='sqlite_sequence'")
            ).first()
            if has_seq:
                conn.execute(text("DELETE FROM sqlite_sequence"))


def settings_for(database_url: str, tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "environment": "test",
        "database_url": database_url,
        "secret_key": TEST_SECRET_KEY,
        "secret_key_file": tmp_path / "secret",
        "migrate_on_start": False,
        "rate_limit": "off",
        # In-process state unless a test asks for Redis: a developer's MINYI_REDIS_URL must not
        # make the suite share limits and caches with a running server.
        "redis_url": None,
    }
    values.update(overrides)
    return Settings(**values)


# FastAPI builds the handlers of an included router's routes (dependencies, validators) on an
# app's first request: 0.7 s for this product's 233 routes on an idle machine, paid by every
# test, since each builds its own app. The handlers depend on the routes, not on the app's
# settings or state (handlers read those from the request at run time), so every app of the
# run takes the ones built for the first app with the same routers. The one thing they carry
# from that app is its `dependency_overrides`, which the suite does not use: tests change
# behaviour through settings and monkeypatch instead.
_HANDLERS: dict[tuple[int, ...], list[Any]] = {}


def share_route_handlers(app: FastAPI) -> None:
    included = [r for r in app.router.routes if hasattr(r, "effective_candidates")]
    if not included or not all(hasattr(r, "effective_low_priority_routes") for r in included):
        return  # another FastAPI: every app builds its own, as in production
    key = tuple(id(r.original_router) for r in included)
    first = _HANDLERS.setdefault(key, included)
    if first is included:
        return
    for mine, theirs in zip(included, first, strict=True):
        mine._effective_candidates = theirs.effective_candidates()
        mine._effective_candidates_version = theirs._effective_candidates_version
        mine._effective_low_priority_routes = theirs.effective_low_priority_routes()
        mine._effective_low_priority_routes_version = theirs._effective_low_priority_routes_version


@pytest.fixture
def make_app(database_url: str, tmp_path: Path) -> Iterator[Callable[..., FastAPI]]:
    """Build an app on the test database with setting overrides; wipes the data afterwards."""
    apps: list[FastAPI] = []

    def _make(**overrides: Any) -> FastAPI:
        app = create_app(settings_for(database_url, tmp_path, **overrides))
        share_route_handlers(app)
        apps.append(app)
        return app

    yield _make
    for app in apps:
        wipe(app.state.engine)
        app.state.engine.dispose()


@pytest.fixture
def app(make_app: Callable[..., FastAPI]) -> FastAPI:
    return make_app()


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


@pytest.fixture
def session(app: FastAPI) -> Iterator[Session]:
    """A session on the app's database, for arranging data and checking what was stored."""
    with Session(app.state.engine) as s:
        yield s


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def live_server(app: FastAPI) -> Iterator[str]:
    """The app served by uvicorn on a free local port, in a thread."""
    import uvicorn

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("live server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


# Module scope: Playwright's sync API keeps an event loop on the main thread while it runs,
# which would break asyncio.run() in the non-browser tests that follow.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright (no browser download)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: scripts/test installs it (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page_errors() -> list[str]:
    """Collects console errors and page errors of pages opened with new_page()."""
    return []


@pytest.fixture
def new_page(browser: Any, page_errors: list[str]) -> Iterator[Callable[..., Any]]:
    """Open a page at a given viewport width; console errors are collected in page_errors."""
    contexts: list[Any] = []

    def _new(width: int = 1280, height: int = 900, java_script_enabled: bool = True) -> Any:
        ctx = browser.new_context(
            viewport={"width": width, "height": height}, java_script_enabled=java_script_enabled
        )
        contexts.append(ctx)
        page = ctx.new_page()
        page.on("console", lambda m: page_errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: page_errors.append(str(e)))
        return page

    yield _new
    for ctx in contexts:
        ctx.close()
