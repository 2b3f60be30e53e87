"""A small stale-while-revalidate cache for dashboard bundles.

Computing every figure of a large campaign takes seconds (comment themes above all), while an
evaluator expects the page at once. A bundle younger than ``fresh`` seconds is served as is;
an older one (up to ``max_age``) is served at once while one background thread computes its
replacement; anything older, or missing, is computed in the request. So a dashboard that is
looked at is never more than a refresh behind, and each bundle says when it was computed.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass


@dataclass
class _Entry:
    value: str
    at: float


class StaleWhileRevalidate:
    """Keyed values with a fresh window, a stale window refreshed in the background, and a
    bounded size (least recently used first out)."""

    def __init__(
        self,
        *,
        fresh: float = 5.0,
        max_age: float = 900.0,
        size: int = 128,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.fresh, self.max_age, self.size, self.clock = fresh, max_age, size, clock
        self._data: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._refreshing: set[Hashable] = set()
        self._lock = threading.Lock()
        self.hits = self.stale_hits = self.misses = 0

    def get(self, key: Hashable, compute: Callable[[], str]) -> str:
        """The value for key: cached, cached while refreshing, or computed now."""
        now = self.clock()
        with self._lock:
            entry = self._data.get(key)
            if entry is not None:
                self._data.move_to_end(key)
                age = now - entry.at
                if age <= self.fresh:
                    self.hits += 1
                    return entry.value
                if age <= self.max_age:
                    self.stale_hits += 1
                    if key not in self._refreshing:
                        self._refreshing.add(key)
                        threading.Thread(
                            target=self._refresh, args=(key, compute), daemon=True
                        ).start()
                    return entry.value
            self.misses += 1
        value = compute()
        self._store(key, value)
        return value

    def _refresh(self, key: Hashable, compute: Callable[[], str]) -> None:
        try:
            self._store(key, compute())
        except Exception:  # the stale value stays; the next request tries again
            pass
        finally:
            with self._lock:
                self._refreshing.discard(key)

    def _store(self, key: Hashable, value: str) -> None:
        with self._lock:
            self._data[key] = _Entry(value, self.clock())
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)

    def clear(self) -> None:
        """Forget everything (e.g. after an import replaced a campaign's data)."""
        with self._lock:
            self._data.clear()
