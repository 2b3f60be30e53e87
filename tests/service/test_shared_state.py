"""Shared state: the setting, the Redis rate limit and dashboard cache, and what happens when
Redis is down (each process falls back to its own state; nothing answers 500)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import ValidationError
from redis.exceptions import ConnectionError as RedisConnectionError

from analytics.dashboard.cache import StaleWhileRevalidate
from service.config import Settings
from service.ratelimit import RateLimiter
from service.shared_state import SharedState, SharedStateDown
from tests.hardening.world import new_response
from tests.redis_store import closed_url, redis_url_fixture, seed_campaign  # noqa: F401


class Clock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _settle(*caches: StaleWhileRevalidate) -> None:
    for _ in range(200):
        if not any(c._refreshing for c in caches):
            return
        threading.Event().wait(0.02)


# --- the setting and the store -------------------------------------------------------------


def test_the_setting_is_optional_and_names_itself_when_wrong(tmp_path: Path) -> None:
    base: dict[str, Any] = {"secret_key": "x" * 40, "secret_key_file": tmp_path / "s"}
    assert Settings(**base).redis_url is None
    assert Settings(**base, redis_url="  ").redis_url is None
    assert Settings(**base, redis_url="redis://cache:6379/0").redis_url == "redis://cache:6379/0"
    with pytest.raises(ValidationError, match="MINYI_REDIS_URL"):
        Settings(**base, redis_url="http://cache:6379")


def test_without_a_url_state_is_in_process() -> None:
    store = SharedState(None)
    assert not store.shared and store.status() == "in-process"
    with pytest.raises(SharedStateDown):
        store.run(lambda r: r.ping())
    limiter = RateLimiter.from_setting("2/minute", shared=store)
    assert limiter.shared is None
    assert [limiter.hit("a") for _ in range(3)][:2] == [None, None]


def test_a_down_server_is_left_alone_for_a_pause_then_tried_again(redis_url: str) -> None:
    clock = Clock()
    store = SharedState(redis_url, pause=5, clock=clock)
    calls = {"n": 0}

    def failing(r: redis.Redis) -> None:
        calls["n"] += 1
        raise RedisConnectionError("refused")

    with pytest.raises(SharedStateDown):
        store.run(failing)
    with pytest.raises(SharedStateDown):
        store.run(failing)  # within the pause: not even tried
    assert calls["n"] == 1 and store.status() == "unavailable"
    clock.now += 5.1
    assert store.status() == "redis"  # tried again, and back
    assert store.run(lambda r: r.ping())


def test_an_unreachable_server_fails_fast() -> None:
    store = SharedState(closed_url())
    assert store.shared and store.status() == "unavailable"
    with pytest.raises(SharedStateDown):
        store.run(lambda r: r.ping())


# --- the rate limit --------------------------------------------------------------------------


def test_limiters_on_one_store_share_one_limit(redis_url: str) -> None:
    store = SharedState(redis_url)
    a, b = (RateLimiter.from_setting("3/minute", shared=SharedState(redis_url)) for _ in "ab")
    assert [a.hit("c"), b.hit("c"), a.hit("c")] == [None, None, None]
    wait = b.hit("c")
    assert wait is not None and 1 <= wait <= 20  # one request every 20 s after the burst
    assert a.hit("other") is None  # per client
    # The key lives only as long as the allowance is not whole (at most the period).
    ttl_ms = store.run(lambda r: r.pttl(SharedState.key("rate", "c")))
    assert 0 < ttl_ms <= 60_000


def test_a_down_limiter_falls_back_to_a_limit_per_process() -> None:
    limiter = RateLimiter.from_setting("2/minute", shared=SharedState(closed_url()))
    assert limiter.shared is not None
    assert [limiter.hit("c") for _ in range(3)][:2] == [None, None]
    assert limiter.hit("c") is not None  # still a brake: the process's own limit


# --- the dashboard cache ---------------------------------------------------------------------


def test_caches_on_one_store_serve_one_value_computed_once(redis_url: str) -> None:
    clock = Clock()
    a, b = (
        StaleWhileRevalidate(fresh=5, quiet=60, shared=SharedState(redis_url), clock=clock)
        for _ in "ab"
    )
    inputs = {"v": 1}
    computed: list[str] = []

    def compute(name: str) -> Callable[[], str]:
        def run() -> str:
            computed.append(name)
            return f"{name} saw {inputs['v']}"

        return run

    assert a.get("k", compute("a"), lambda: inputs["v"]) == "a saw 1"
    assert b.get("k", compute("b"), lambda: inputs["v"]) == "a saw 1"
    assert computed == ["a"] and b.hits == 1
    # New responses stored (through any process): the first probe after the fresh window
    # sees them, one process refreshes, and every process serves the new value.
    inputs["v"] = 2
    clock.now += 6
    assert b.get("k", compute("b"), lambda: inputs["v"]) == "a saw 1"  # stale once
    _settle(a, b)
    assert a.get("k", compute("a"), lambda: inputs["v"]) == "b saw 2"
    assert computed == ["a", "b"]


def test_one_refresh_runs_for_all_processes(redis_url: str) -> None:
    clock = Clock()
    a, b = (StaleWhileRevalidate(fresh=5, shared=SharedState(redis_url), clock=clock) for _ in "ab")
    gate = threading.Event()
    runs: list[str] = []

    def slow(name: str) -> Callable[[], str]:
        def run() -> str:
            runs.append(name)
            gate.wait(5)
            return "new"

        return run

    a.get("k", lambda: "old")
    clock.now += 10
    assert a.get("k", slow("a")) == "old"  # a claims the refresh
    assert b.get("k", slow("b")) == "old"  # b sees the claim: no second refresh
    gate.set()
    _settle(a, b)
    assert runs == ["a"] and b.get("k", slow("b")) == "new"


def test_clear_forgets_the_shared_entries(redis_url: str) -> None:
    store = SharedState(redis_url)
    a, b = (StaleWhileRevalidate(shared=SharedState(redis_url)) for _ in "ab")
    a.get("k", lambda: "1")
    b.clear()
    assert a.get("k", lambda: "2") == "2"
    assert store.run(lambda r: r.dbsize()) == 1


def test_a_down_cache_keeps_its_entries_in_the_process() -> None:
    cache = StaleWhileRevalidate(shared=SharedState(closed_url()))
    computed: list[int] = []

    def compute() -> str:
        computed.append(1)
        return "v"

    assert cache.get("k", compute) == "v" and cache.get("k", compute) == "v"
    assert computed == [1]


# --- the app ---------------------------------------------------------------------------------


def _use_the_app(client: TestClient, app: FastAPI, *, limit: int) -> list[int]:
    """Seed through the app, post past the limit, read the dashboard twice: the codes."""
    cid, ev = seed_campaign(client, app.state.engine)
    codes = [
        client.post(f"/api/v1/campaigns/{cid}/responses", json=new_response()).status_code
        for _ in range(limit + 1)
    ]
    for _ in range(2):
        r = client.get(f"/api/v1/dashboard?campaign_id={cid}&names=responses", headers=ev)
        assert r.status_code == 200, r.text
    return codes


def test_the_app_shares_its_limit_and_cache_through_redis(
    make_app: Callable[..., FastAPI], redis_url: str
) -> None:
    app = make_app(redis_url=redis_url, rate_limit="3/minute")
    with TestClient(app) as client:
        assert _use_the_app(client, app, limit=3) == [201, 201, 201, 429]
        assert client.get("/healthz").json()["shared_state"] == "redis"
    store = SharedState(redis_url)
    keys = store.run(lambda r: r.keys(SharedState.key("*")))
    names = [k.decode() if isinstance(k, bytes) else k for k in keys]
    assert {n.split(":")[1] for n in names} >= {"rate", "dash"}


def test_the_app_with_redis_down_still_limits_and_serves(
    make_app: Callable[..., FastAPI],
) -> None:
    app = make_app(redis_url=closed_url(), rate_limit="3/minute")
    with TestClient(app) as client:
        assert _use_the_app(client, app, limit=3) == [201, 201, 201, 429]  # its own limit
        r = client.get("/healthz")
        assert r.status_code == 200 and r.json()["shared_state"] == "unavailable"


# --- the deployment --------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]


def test_compose_runs_replicas_behind_the_proxy_with_postgres_and_redis() -> None:
    yaml = pytest.importorskip("yaml")
    services = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]
    assert {"db", "redis", "migrate", "app", "proxy"} <= set(services)
    app = services["app"]
    assert str(app["deploy"]["replicas"]) == "${APP_REPLICAS:-3}"
    env = app["environment"]
    assert env["MINYI_REDIS_URL"].startswith("redis://redis:")
    assert env["MINYI_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert env["MINYI_MIGRATE_ON_START"] == "false"  # migrated once, by "migrate"
    assert app["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert "ports" not in app  # reached through the proxy only
    mount = services["proxy"]["volumes"][0].split(":")
    conf = (ROOT / mount[0]).read_text()
    assert mount[1] == "/etc/nginx/nginx.conf"
    assert "server app:8000 resolve" in conf
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in conf
