"""One ballot per deputy under concurrency, across two server processes.

300 deputies each try to vote 5 times at once, their attempts spread over two uvicorn
processes sharing one database: exactly 300 ballots must be stored, every other attempt
answered 409, nothing else.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func
from sqlmodel import Session, select

from service.auth import issue_token
from service.models import Role
from surveys.voting.models import (
    Ballot,
    BallotMark,
    ProjectCreate,
    SessionCreate,
    Voter,
)
from surveys.voting.projects import create_project
from surveys.voting.sessions import create_session, open_session
from tests.conftest import SECRETS, TEST_SECRET_KEY, _free_port
from tests.factories import make_user
from tests.surveys.voting.factories import make_deputies, make_units

ROOT = Path(__file__).resolve().parents[3]
DEPUTIES = 300
ATTEMPTS = 5


def _start_server(database_url: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.update(
        {
            "MINYI_DATABASE_URL": database_url,
            "MINYI_MIGRATE_ON_START": "false",
            "MINYI_SECRET_KEY": TEST_SECRET_KEY,
            "MINYI_RATE_LIMIT": "off",
            "MINYI_ENVIRONMENT": "test",
        }
    )
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "service.main:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"server exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    pytest.fail(f"server did not start: {log.read_text(errors='replace')[-2000:]}")


@pytest.mark.slow
def test_300_deputies_5_attempts_each_two_processes_store_300_ballots(
    app: FastAPI, session: Session, database_url: str, tmp_path: Path
) -> None:
    make_units(session)
    admin = make_user(session, Role.admin, "admin")
    users = make_deputies(session, DEPUTIES)
    tokens = []
    for u in users:
        raw, _ = issue_token(session, user=u, settings=app.state.settings)
        tokens.append(raw)
    SECRETS.update(tokens)
    ids = [
        create_project(
            session,
            data=ProjectCreate(
                title=f"项目{i}", category="教育", budget=1_000_000 * i, sponsor_unit_code="edu"
            ),
        ).id
        or 0
        for i in range(1, 6)
    ]
    vs = create_session(
        session,
        data=SessionCreate(
            title="并发测试",
            year=2027,
            project_ids=ids,
            deputy_usernames=[u.username for u in users],
            budget_cap=8_000_000,
        ),
        actor=admin.username,
    )
    open_session(session, vs=vs, actor=admin.username)
    session.commit()
    sid = vs.id

    ports = [_free_port(), _free_port()]
    logs = [tmp_path / f"server{i}.log" for i in range(2)]
    procs = [_start_server(database_url, p, log) for p, log in zip(ports, logs, strict=True)]
    try:
        urls = [f"http://127.0.0.1:{p}" for p in ports]
        for url, proc, log in zip(urls, procs, logs, strict=True):
            _wait_ready(url, proc, log)
        rng = random.Random(4)
        attempts = [(d, a) for d in range(DEPUTIES) for a in range(ATTEMPTS)]
        rng.shuffle(attempts)
        # Idle connections are dropped by the client after 2 s, before the server's keep-alive
        # of 5 s ends them: on a loaded machine a thread can idle that long, and a request sent
        # on a connection the server is closing fails with "server disconnected".
        keep = httpx.Limits(keepalive_expiry=2)
        clients = [httpx.Client(base_url=u, timeout=60, limits=keep) for u in urls]

        def cast(job: tuple[int, int]) -> int:
            deputy, attempt = job
            choices = {str(p): rng_choice(deputy, p) for p in ids}
            r = clients[(deputy + attempt) % 2].post(
                f"/api/v1/voting-sessions/{sid}/ballots",
                json={"choices": choices},
                headers={"Authorization": f"Bearer {tokens[deputy]}"},
            )
            if r.status_code == 201:
                SECRETS.add(r.json()["receipt"])
            return r.status_code

        # SQLite's connection pool holds 15 connections per process; past that, the
        # async auth dependency waits for a connection on the event loop while the
        # requests holding them wait for the loop (see docs/benchmarks.md, Voting), so
        # SQLite gets fewer concurrent clients than PostgreSQL (pool of 30).
        workers = 32 if database_url.startswith("postgresql") else 12
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=workers) as pool:
            codes = Counter(pool.map(cast, attempts))
        elapsed = time.monotonic() - started
        for c in clients:
            c.close()
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=20)

    assert codes == {201: DEPUTIES, 409: DEPUTIES * (ATTEMPTS - 1)}, (codes, elapsed)
    assert elapsed < 60, elapsed
    session.expire_all()
    ballots = session.exec(
        select(func.count()).select_from(Ballot).where(Ballot.session_id == sid)
    ).one()
    voters = session.exec(
        select(func.count()).select_from(Voter).where(Voter.session_id == sid)
    ).one()
    marks = session.exec(select(func.count()).select_from(BallotMark)).one()
    assert (ballots, voters, marks) == (DEPUTIES, DEPUTIES, DEPUTIES * len(ids))
    for log in logs:
        text = log.read_text(errors="replace")
        assert "Traceback" not in text and "ERROR" not in text, text[-3000:]


def rng_choice(deputy: int, project: int) -> str:
    """A deterministic mark per deputy and project (the same on every attempt)."""
    return ("for", "for", "against", "abstain")[(deputy * 7 + project) % 4]
