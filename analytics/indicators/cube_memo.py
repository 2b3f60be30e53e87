"""The counts a process keeps between flexible views, under one byte budget.

``cube_query`` keeps, per query, the counts of the rows a request has already counted, so the
next request counts only newer rows. What is kept is bounded for the whole process, not per
campaign: a worker serving many campaigns stays as small as one serving one.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

__all__ = ["MEMO", "Memo"]


class Memo:
    """A bounded LRU of the generation's parts of queries (entries and bytes both capped).

    One for the whole process (``MEMO``): the cap is what the kept counts of every campaign
    together may hold, so a worker serving many campaigns stays as small as one serving one.
    Every key starts with the campaign copy it counts (``Snap.lineage``)."""

    # The bytes are the bound; the entries' cap only bounds the bookkeeping. Filtered views
    # keep counts of a few kilobytes each: a small cap would let many filters push each other
    # out, each then a pass over every row again.
    def __init__(self, entries: int = 256, nbytes: int = 64 << 20) -> None:
        self.entries, self.nbytes = entries, nbytes
        self.items: OrderedDict[Hashable, Any] = OrderedDict()
        self.sizes: dict[Hashable, int] = {}
        self.total = 0
        self.lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: Hashable, make: Callable[[], Any], size: Callable[[Any], int]) -> Any:
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                self.hits += 1
                return self.items[key]
            self.misses += 1
        value = make()  # outside the lock: two requests may both compute it, same result
        self.put(key, value, size(value))
        return value

    def peek(self, key: Hashable) -> Any:
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                self.hits += 1
                return self.items[key]
            self.misses += 1
            return None

    def put(self, key: Hashable, value: Any, nb: int) -> None:
        with self.lock:
            self.total -= self.sizes.get(key, 0)
            self.items[key] = value
            self.sizes[key] = nb
            self.total += nb
            self.items.move_to_end(key)
            while len(self.items) > self.entries or self.total > self.nbytes:
                old, _ = self.items.popitem(last=False)
                self.total -= self.sizes.pop(old)
                if old == key:
                    break

    def drop(self, lineage: Hashable) -> None:
        """Forget one campaign copy's entries (its codes changed)."""
        with self.lock:
            for key in [k for k in self.items if isinstance(k, tuple) and k[0] == lineage]:
                del self.items[key]
                self.total -= self.sizes.pop(key)

    def clear(self) -> None:
        with self.lock:
            self.items.clear()
            self.sizes.clear()
            self.total = 0


# The kept counts of every campaign in this process: a worker's memory budget for them.
MEMO = Memo()
