"""The login throttle under concurrent guesses, against a real server with two worker processes."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlmodel import Session

from service.models import LoginThrottle, Role
from tests.factories import PASSWORD, make_user
from tests.hardening.server import ROOT, free_port, server_env

LIMIT = 5
GUESSES = 30
TOKEN_URL = "/api/v1/auth/token"


def _serve(database_url: str, tmp_path: Path, port: int) -> subprocess.Popen[bytes]:
    env = server_env(database_url, tmp_path, MINYI_LOGIN_MAX_FAILURES=str(LIMIT))
    cmd = [sys.executable, "-m", "uvicorn", "service.main:create_app", "--factory"]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--workers", "2", "--log-level", "warning"]
    log = open(tmp_path / "server.log", "ab")  # noqa: SIM115 - outlives this function
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def _wait_up(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "server exited"
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError("server did not start")


def _guess_all_at_once(url: str, username: str) -> list[int]:
    """GUESSES wrong passwords, released together from one barrier."""
    barrier = threading.Barrier(GUESSES)
    codes: list[int] = []

    def guess(i: int) -> None:
        with httpx.Client(base_url=url, timeout=60) as c:
            barrier.wait()
            r = c.post(TOKEN_URL, data={"username": username, "password": f"wrong-guess-{i}"})
            codes.append(r.status_code)

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(GUESSES)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return codes


@pytest.mark.slow
def test_concurrent_wrong_passwords_lock_after_the_limit(
    make_app: Callable[..., FastAPI], database_url: str, tmp_path: Path
) -> None:
    engine = make_app().state.engine  # teardown wipes the database
    with Session(engine) as s:
        make_user(s, Role.admin, "target")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = _serve(database_url, tmp_path, port)
    try:
        _wait_up(url, proc)
        codes = _guess_all_at_once(url, "target")
        # Only the first LIMIT attempts reach password verification (each a 401); every later
        # one is refused as locked (429) without verifying; never a 409 or a 500.
        assert len(codes) == GUESSES
        assert Counter(codes) == {401: LIMIT, 429: GUESSES - LIMIT}, Counter(codes)
        with Session(engine) as s:
            row = s.get(LoginThrottle, "target")
            assert row is not None and row.failures == LIMIT and row.locked_until is not None
        right = httpx.post(url + TOKEN_URL, data={"username": "target", "password": PASSWORD})
        assert right.status_code == 429 and int(right.headers["retry-after"]) >= 1
    finally:
        proc.terminate()
        proc.wait(timeout=30)
