"""A bounded-memory, in-process rate limiter for public posts (setting ``MINYI_RATE_LIMIT``).

GCRA ("generic cell rate algorithm"): one float per client, the time at which the client's
allowance is fully restored. A limit of ``N/period`` admits a burst of N and then one request
every ``period/N`` seconds. At most ``max_keys`` clients are remembered; the least recently
seen one is forgotten first (forgetting only ever gives a client its allowance back early).

Each server process keeps its own limiter, so with W workers a client can get up to W times
the limit; the limit is a brake on floods from one client, not an exact quota.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, FastAPI, Request

from service.errors import TooManyRequests

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
    ) -> None:
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
    ) -> RateLimiter:
        """A limiter for a setting such as ``"30/minute"``; ``"off"`` gives one that admits all."""
        parsed = parse_rate(value)
        if parsed is None:
            return cls(None, max_keys=max_keys, clock=clock)
        return cls(parsed[0], parsed[1], max_keys=max_keys, clock=clock)

    def hit(self, key: str) -> int | None:
        """Count one request for key: None if allowed, else whole seconds until it would be."""
        if not self.enabled:
            return None
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
