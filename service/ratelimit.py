"""A bounded-memory rate limiter for public posts (setting ``MINYI_RATE_LIMIT``).

GCRA ("generic cell rate algorithm"): one float per client, the time at which the client's
allowance is fully restored. A limit of ``N/period`` admits a burst of N and then one request
every ``period/N`` seconds.

Where that float lives is ``service.shared_state``'s choice. With Redis configured it is one
key per client in Redis, updated by one script on Redis's own clock, so every app process
counts against the same limit and the key expires once the allowance is whole again. Without
Redis, or while Redis is down, each process keeps its own table: at most ``max_keys`` clients,
the least recently seen forgotten first (forgetting only ever gives a client its allowance
back early), and with W processes a client can get up to W times the limit. The limiter is a
brake on floods from one client, not a quota, so it fails open to that per-process limit
rather than refusing residents while Redis is away.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request

from service.errors import TooManyRequests
from service.shared_state import SharedState, SharedStateDown

_UNITS = {
    "s": 1.0,
    "sec": 1.0,
    "second": 1.0,
    "m": 60.0,
    "min": 60.0,
    "minute": 60.0,
    "h": 3600.0,
    "hour": 3600.0,
    "d": 86400.0,
    "day": 86400.0,
}
_OFF = {"off", "none", "disabled", "0"}
_SETTING = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([a-z]+)\s*$")

# GCRA on Redis, atomic: KEYS[1] holds the client's restore time (seconds on Redis's clock);
# ARGV: the interval and the period. Returns -1 when admitted, else the milliseconds to wait.
_GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local interval = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local new_tat = tat + interval
if new_tat - now > period + 1e-9 then
  return math.ceil((new_tat - period - now) * 1000)
end
redis.call('SET', KEYS[1], string.format('%.6f', new_tat), 'PX', math.ceil((new_tat - now) * 1000))
return -1
"""


def parse_rate(value: str) -> tuple[int, float] | None:
    """``"30/minute"`` -> ``(30, 60.0)``; ``"off"`` -> None; anything else raises ValueError."""
    text = value.strip().lower()
    if text in _OFF:
        return None
    m = _SETTING.match(text)
    unit = m.group(3) if m else ""
    if len(unit) > 2 and unit not in _UNITS:
        unit = unit.removesuffix("s")  # plurals: "minutes", "hours"
    if not m or unit not in _UNITS or int(m.group(1)) < 1:
        raise ValueError(
            f"rate limit {value!r}: use N/second, N/minute, N/hour, N/day (or 'off'), e.g. 30/minute"
        )
    count = int(m.group(1))
    period = (int(m.group(2)) if m.group(2) else 1) * _UNITS[unit]
    return count, period


class RateLimiter:
    """Per-key limiter; ``hit(key)`` returns None when allowed, else the seconds to wait."""

    def __init__(
        self,
        limit: int | None,
        period: float = 60.0,
        *,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
        shared: SharedState | None = None,
    ) -> None:
        self.shared = shared if shared is not None and shared.shared else None
        self._gcra = self.shared.script(_GCRA) if self.shared is not None else None
        self.enabled = limit is not None
        self.limit = limit or 0
        self.period = period
        self.max_keys = max_keys
        self._interval = period / limit if limit else 0.0
        self._clock = clock
        self._tat: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    @classmethod
    def from_setting(
        cls,
        value: str,
        *,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
        shared: SharedState | None = None,
    ) -> RateLimiter:
        """A limiter for a setting such as ``"30/minute"``; ``"off"`` gives one that admits all.
        With a shared store the limit holds across every process that uses it."""
        parsed = parse_rate(value)
        if parsed is None:
            return cls(None, max_keys=max_keys, clock=clock, shared=shared)
        return cls(parsed[0], parsed[1], max_keys=max_keys, clock=clock, shared=shared)

    def hit(self, key: str) -> int | None:
        """Count one request for key: None if allowed, else whole seconds until it would be."""
        if not self.enabled:
            return None
        if self.shared is not None:
            try:
                return self._shared_hit(key)
            except SharedStateDown:
                pass  # fail open to this process's own limit (see the module's docstring)
        return self._local_hit(key)

    def _shared_hit(self, key: str) -> int | None:
        assert self.shared is not None and self._gcra is not None
        gcra, keys = self._gcra, [SharedState.key("rate", key)]
        args: list[Any] = [repr(self._interval), repr(self.period)]
        wait_ms = int(self.shared.run(lambda r: gcra(r, keys, args)))
        return None if wait_ms < 0 else max(1, math.ceil(wait_ms / 1000))

    def _local_hit(self, key: str) -> int | None:
        with self._lock:
            now = self._clock()
            tat = max(self._tat.get(key, now), now)
            new_tat = tat + self._interval
            if new_tat - now > self.period + 1e-9:
                self._tat.move_to_end(key)
                return max(1, math.ceil(new_tat - self.period - now))
            self._tat[key] = new_tat
            self._tat.move_to_end(key)
            while len(self._tat) > self.max_keys:
                self._tat.popitem(last=False)
            return None

    def __len__(self) -> int:
        return len(self._tat)

    def enforce(self, key: str) -> None:
        """Count one request for key; raise 429 with Retry-After when it is over the limit."""
        wait = self.hit(key)
        if wait is not None:
            raise TooManyRequests("Too many requests; please wait and try again", wait)


def get_rate_limiter(app: FastAPI) -> RateLimiter:
    """The app's limiter, built once with the app (``create_app``)."""
    limiter: RateLimiter = app.state.rate_limiter
    return limiter


async def rate_limiter(request: Request) -> RateLimiter:
    """The app's limiter, as a route dependency."""
    return get_rate_limiter(request.app)


RateLimit = Annotated[RateLimiter, Depends(rate_limiter)]


def client_key(request: Request) -> str:
    """The client's address as the server sees it (uvicorn applies trusted proxy headers)."""
    return request.client.host if request.client else "unknown"


def enforce_rate_limit(request: Request, bucket: str = "public") -> None:
    """Count this request against its client's limit; raise 429 with Retry-After when over it."""
    get_rate_limiter(request.app).enforce(f"{bucket}:{client_key(request)}")
