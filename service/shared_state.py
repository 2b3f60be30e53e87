"""Where the state that every app process must agree on lives: in this process, or in Redis.

Two things are kept outside the database and must be one for the whole deployment once it runs
several processes (``minyi serve --workers N``, or replicas behind a proxy): the rate limits
(``service.ratelimit``) and the dashboard cache (``analytics.dashboard.cache``). With
``MINYI_REDIS_URL`` unset they live in each process, which is right for one process and needs no
set-up; with it set they live in that Redis, so N processes give one limit and one cache.

When Redis cannot be reached, nothing fails: each caller falls back to its in-process state (a
limit per process, a cache per process, as without Redis) and Redis is not tried again for
``pause`` seconds, so a dead server costs one short timeout per pause and not one per request.
The first failure and the recovery are logged.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

T = TypeVar("T")

# Seconds a Redis call may take before the caller falls back (the local network: a round trip
# is a fraction of a millisecond); the same for connecting.
TIMEOUT = 0.25
# Seconds Redis is left alone after a failure before it is tried again.
PAUSE = 5.0
PREFIX = "minyi:"


class SharedStateDown(Exception):
    """Redis is configured but cannot be reached now: use the in-process state."""


class SharedState:
    """The deployment's shared store: Redis when a URL is given, else none (in-process)."""

    def __init__(
        self,
        url: str | None,
        *,
        timeout: float = TIMEOUT,
        pause: float = PAUSE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url or None
        self.pause = pause
        self._clock = clock
        self._down_until = 0.0
        self._down = False
        self._lock = threading.Lock()
        self._client: redis.Redis | None = (
            redis.Redis.from_url(
                self.url,
                socket_timeout=timeout,
                socket_connect_timeout=timeout,
                health_check_interval=30,
            )
            if self.url
            else None
        )

    @classmethod
    def from_settings(cls, settings: Any) -> SharedState:
        """The store named by ``MINYI_REDIS_URL`` (none when it is unset)."""
        return cls(getattr(settings, "redis_url", None))

    @property
    def shared(self) -> bool:
        """True when state is meant to live in Redis (whether or not it is up now)."""
        return self._client is not None

    @staticmethod
    def key(*parts: str) -> str:
        """A Redis key in the product's namespace."""
        return PREFIX + ":".join(parts)

    def run(self, op: Callable[[redis.Redis], T]) -> T:
        """``op`` on Redis; SharedStateDown when none is configured, or it is (just) down."""
        client = self._client
        if client is None:
            raise SharedStateDown("no shared store configured")
        if self._down and self._clock() < self._down_until:
            raise SharedStateDown("Redis unreachable")
        try:
            result = op(client)
        except RedisError as exc:
            with self._lock:
                if not self._down:
                    log.warning(
                        "Redis unreachable (%s): rate limits and caches are per process "
                        "until it is back",
                        type(exc).__name__,
                    )
                self._down = True
                self._down_until = self._clock() + self.pause
            raise SharedStateDown(str(exc)) from exc
        if self._down:
            with self._lock:
                if self._down:
                    log.warning("Redis reachable again: rate limits and caches are shared")
                self._down = False
        return result

    def script(self, source: str) -> Callable[[redis.Redis, list[str], list[Any]], Any]:
        """A Lua script, sent once and then called by its hash: ``fn(client, keys, args)``
        (call it inside ``run``)."""
        if self._client is None:
            raise SharedStateDown("no shared store configured")
        compiled = self._client.register_script(source)
        return lambda client, keys, args: compiled(keys=keys, args=args, client=client)

    def status(self) -> str:
        """``in-process``, ``redis``, or ``unavailable`` (configured, not answering)."""
        if self._client is None:
            return "in-process"
        try:
            self.run(lambda r: r.ping())
        except SharedStateDown:
            return "unavailable"
        return "redis"

    def close(self) -> None:
        """Let the connections go (at shutdown)."""
        if self._client is not None:
            self._client.close()
