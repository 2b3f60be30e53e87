"""Two real app processes on different ports, one database, one Redis: replicas behind a proxy.

N posts spread over both exhaust the limit once (not once per process), and a dashboard view
cached in one process changes there after a response is stored through the other.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from tests.hardening.conftest import add_figure, backend_of
from tests.hardening.server import ROOT, free_port, server_env
from tests.hardening.world import new_response
from tests.redis_store import redis_url_fixture, seed_campaign  # noqa: F401

LIMIT = 4


class Replica:
    """``uvicorn service.main:create_app --factory`` with extra settings, on a free port."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        cmd = [sys.executable, "-m", "uvicorn", "service.main:create_app", "--factory"]
        cmd += ["--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning"]
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=out)

    def wait(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"replica exited: {self.log.read_text()[-3000:]}")
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("replica did not start")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


@pytest.fixture
def replicas(
    make_app: Callable[..., FastAPI], database_url: str, redis_url: str, tmp_path: Path
) -> Iterator[tuple[Replica, Replica]]:
    make_app()  # its teardown empties the database again
    env = server_env(
        database_url,
        tmp_path,
        MINYI_REDIS_URL=redis_url,
        MINYI_RATE_LIMIT=f"{LIMIT}/minute",
        MINYI_MIGRATE_ON_START="false",
        MINYI_COMMENT_SCORING_INTERVAL="0",
        MINYI_PURGE_INTERVAL="0",
    )
    pair = (Replica(env, tmp_path / "a.log"), Replica(env, tmp_path / "b.log"))
    try:
        for r in pair:
            r.wait()
        yield pair
    finally:
        for r in pair:
            r.stop()


def _post(url: str, campaign_id: int, client_address: str) -> httpx.Response:
    # uvicorn trusts X-Forwarded-For from 127.0.0.1, as it would from the proxy in front. A
    # comment of its own each, so that no response is flagged (and left out) as a repeat.
    body = new_response(comment=f"第{uuid.uuid4().hex[:8]}号意见")
    return httpx.post(
        f"{url}/api/v1/campaigns/{campaign_id}/responses",
        json=body,
        headers={"X-Forwarded-For": client_address},
        timeout=30,
    )


def _headline(url: str, campaign_id: int, headers: dict[str, str]) -> dict[str, object]:
    r = httpx.get(
        f"{url}/api/v1/dashboard",
        params={"campaign_id": campaign_id, "names": "responses"},
        headers=headers,
        timeout=60,
    )
    assert r.status_code == 200, r.text
    body: dict[str, object] = r.json()
    return body


@pytest.mark.slow
def test_two_replicas_share_one_limit_and_one_cache(
    replicas: tuple[Replica, Replica], make_app: Callable[..., FastAPI]
) -> None:
    a, b = replicas
    engine = make_app().state.engine
    backend = backend_of(str(engine.url))
    with httpx.Client(base_url=a.url, timeout=30) as c:
        campaign_id, evaluator = seed_campaign(c, engine)
    assert {httpx.get(r.url + "/healthz").json()["shared_state"] for r in replicas} == {"redis"}

    # One client's posts alternate between the replicas: the limit is spent once.
    codes = [_post((a, b)[i % 2].url, campaign_id, "10.0.0.1").status_code for i in range(8)]
    assert codes == [201] * LIMIT + [429] * (8 - LIMIT), codes
    refused = _post(b.url, campaign_id, "10.0.0.1")
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1

    # Enough other residents (each under the limit) for the headline to show their number.
    for i in range(2, 8):
        assert _post((a, b)[i % 2].url, campaign_id, f"10.0.0.{i}").status_code == 201
    first = _headline(a.url, campaign_id, evaluator)
    n = first["headline"]["responses"]  # type: ignore[index]
    assert n == LIMIT + 6
    # B serves the bundle A computed: one shared entry, not one per process.
    assert _headline(b.url, campaign_id, evaluator)["computed_at"] == first["computed_at"]

    # A response stored through B shows in A's view at the first probe after the fresh window
    # (5 s), once one refresh has run.
    assert _post(b.url, campaign_id, "10.0.0.99").status_code == 201
    started = time.monotonic()
    seen = n
    while time.monotonic() - started < 30 and seen == n:
        time.sleep(0.5)
        seen = _headline(a.url, campaign_id, evaluator)["headline"]["responses"]  # type: ignore[index]
    assert seen == n + 1, f"A still shows {seen} responses after 30 s"
    caught_up = int((time.monotonic() - started) * 1000)
    add_figure("replicas: other replica's dashboard caught up after (ms)", caught_up, backend)
    assert _headline(b.url, campaign_id, evaluator)["headline"]["responses"] == n + 1  # type: ignore[index]
