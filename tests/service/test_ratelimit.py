"""The in-process rate limiter: parsing, GCRA bursts and refill, bounded memory, 429."""

from __future__ import annotations

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from pydantic import ValidationError

from service.config import Settings
from service.errors import install_error_handlers
from service.ratelimit import RateLimiter, enforce_rate_limit, get_rate_limiter, parse_rate


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30/minute", (30, 60.0)),
        ("30/minutes", (30, 60.0)),
        ("5/s", (5, 1.0)),
        ("100/hour", (100, 3600.0)),
        ("10/5min", (10, 300.0)),
        (" 2 / day ", (2, 86400.0)),
        ("off", None),
        ("OFF", None),
    ],
)
def test_parse_rate(text: str, expected: tuple[int, float] | None) -> None:
    assert parse_rate(text) == expected


@pytest.mark.parametrize("text", ["", "30", "thirty/minute", "30/fortnight", "0/minute", "5/ms"])
def test_parse_rate_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_rate(text)


def test_setting_is_validated(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError, match="rate limit"):
        Settings(rate_limit="lots", secret_key="x" * 40, secret_key_file=tmp_path / "s")


def test_burst_then_one_per_interval() -> None:
    clock = Clock()
    rl = RateLimiter.from_setting("3/minute", clock=clock)
    assert [rl.hit("a") for _ in range(3)] == [None, None, None]
    wait = rl.hit("a")
    assert wait == 20  # one slot comes back every 60/3 seconds
    assert rl.hit("b") is None  # other clients are not affected
    clock.now += 19.5
    assert rl.hit("a") == 1
    clock.now += 0.5
    assert rl.hit("a") is None
    assert rl.hit("a") is not None
    clock.now += 60
    assert [rl.hit("a") for _ in range(3)] == [None, None, None]


def test_memory_is_bounded() -> None:
    rl = RateLimiter.from_setting("1/minute", max_keys=100)
    for i in range(10_000):
        rl.hit(f"client-{i}")
    assert len(rl) == 100
    assert rl.hit("client-9999") is not None  # the most recent clients are remembered


def test_off_admits_everything() -> None:
    rl = RateLimiter.from_setting("off")
    assert all(rl.hit("a") is None for _ in range(10_000))
    assert len(rl) == 0


def test_enforce_answers_429_with_retry_after(tmp_path) -> None:  # type: ignore[no-untyped-def]
    app = FastAPI()
    install_error_handlers(app)
    app.state.settings = Settings(
        rate_limit="2/minute", secret_key="x" * 40, secret_key_file=tmp_path / "s"
    )
    # Built once with the app (create_app does this from the setting).
    app.state.rate_limiter = RateLimiter.from_setting(app.state.settings.rate_limit)

    @app.post("/p")
    def post(request: Request) -> dict[str, bool]:
        enforce_rate_limit(request)
        return {"ok": True}

    with TestClient(app) as c:
        assert [c.post("/p").status_code for _ in range(2)] == [200, 200]
        r = c.post("/p")
        assert r.status_code == 429
        assert int(r.headers["retry-after"]) >= 1
    assert get_rate_limiter(app) is app.state.rate_limiter
