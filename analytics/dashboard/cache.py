"""A small stale-while-revalidate cache for dashboard bundles.

Computing every figure of a large campaign takes seconds (comment themes above all), while an
evaluator expects the page at once. A bundle younger than ``fresh`` seconds is served as is;
an older one (up to ``max_age``) is served at once while one background thread computes its
replacement; anything older, or missing, is computed in the request. So a dashboard that is
looked at is never more than a refresh behind, and each bundle says when it was computed.

A caller may also give the version of the value's inputs (a cheap probe, such as counts of
the rows a bundle is computed from). A value whose inputs have not changed is then served
without a refresh until it is ``quiet`` seconds old: a dashboard on a campaign that is not
receiving responses costs nothing to look at (a refresh of the million-response demo takes
a core for 0.7 s), and anything the probe does not see is still picked up within ``quiet``.
"""

from __future__ import annotations

import threading
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass


@dataclass
class _Entry:
    # Kept compressed: a bundle is 0.1-0.2 M characters of JSON with Chinese text, 0.2-0.4 MB
    # as a Python string and a tenth of that deflated (about a millisecond each way), so a
    # full cache holds some 5 MB instead of 50 in every worker.
    packed: bytes
    at: float  # when the value was computed
    version: Hashable = None  # the version of its inputs then
    checked: float = 0.0  # when that version was last found current

    @property
    def value(self) -> str:
        return zlib.decompress(self.packed).decode()


Probe = Callable[[], Hashable]


class StaleWhileRevalidate:
    """Keyed values with a fresh window, a stale window refreshed in the background, and a
    bounded size (least recently used first out)."""

    def __init__(
        self,
        *,
        fresh: float = 5.0,
        quiet: float = 60.0,
        max_age: float = 900.0,
        size: int = 128,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.fresh, self.quiet, self.max_age = fresh, quiet, max_age
        self.size, self.clock = size, clock
        self._data: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._refreshing: set[Hashable] = set()
        self._lock = threading.Lock()
        self.hits = self.stale_hits = self.misses = 0

    def get(self, key: Hashable, compute: Callable[[], str], version: Probe | None = None) -> str:
        """The value for key: cached, cached while refreshing, or computed now."""
        now = self.clock()
        with self._lock:
            entry = self._data.get(key)
            if entry is not None:
                self._data.move_to_end(key)
                if now - entry.at <= self.fresh or (
                    version is not None
                    and now - entry.at <= self.quiet
                    and now - entry.checked <= self.fresh
                ):
                    self.hits += 1
                    return entry.value
        if entry is not None and version is not None and now - entry.at <= self.quiet:
            current = version()  # a query: not under the lock
            if current == entry.version:
                with self._lock:
                    entry.checked = now
                    self.hits += 1
                return entry.value
        if entry is not None and now - entry.at <= self.max_age:
            with self._lock:
                self.stale_hits += 1
                if key not in self._refreshing:
                    self._refreshing.add(key)
                    threading.Thread(
                        target=self._refresh, args=(key, compute, version), daemon=True
                    ).start()
            return entry.value
        with self._lock:
            self.misses += 1
        return self._compute(key, compute, version)

    def _compute(self, key: Hashable, compute: Callable[[], str], version: Probe | None) -> str:
        # The version is read first: a change made while computing shows at the next probe.
        seen = version() if version is not None else None
        value = compute()
        packed = zlib.compress(value.encode(), 1)
        with self._lock:
            at = self.clock()
            self._data[key] = _Entry(packed, at, seen, at)
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)
        return value

    def _refresh(self, key: Hashable, compute: Callable[[], str], version: Probe | None) -> None:
        try:
            self._compute(key, compute, version)
        except Exception:  # the stale value stays; the next request tries again
            pass
        finally:
            with self._lock:
                self._refreshing.discard(key)

    def clear(self) -> None:
        """Forget everything (e.g. after an import replaced a campaign's data)."""
        with self._lock:
            self._data.clear()
