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

That probe is the one way a value is invalidated, and it reads the database, which every app
process shares. With a shared store (``service.shared_state``: Redis) the entries, the time
their version was last found current and the claim on their refresh live there too, so all
processes serve one value, one process refreshes it, and a response stored through any of
them shows in every one at the first probe after it (at most ``fresh`` seconds, then one
refresh). Without one, or while Redis is down, each process keeps its own entries below.

Background refreshes run one at a time in each process, and after a refresh that took ``t``
seconds the next one waits ``pace * t``. A refresh of the ten-million-response campaign
takes 5-18 s in the worker that also answers requests, part of it in the database, and
requests that land beside it wait for the interpreter lock or a core (a view of 120 ms took
250-510 ms beside two refreshes): so refreshes run at most ``1 / (1 + pace)`` of the time
in each process, and a busy large campaign's dashboard falls behind by a few refreshes' time
instead of slowing every view. Wall time, not the thread's CPU time, because the database's
share of a refresh takes a core too. A small campaign's refresh takes milliseconds, so its
wait is as short. A caller may also give a ``background`` computation of the same value for
refreshes, such as one run in a child process (``service.offload``): the refresh thread then
only waits for it, and the process's interpreter lock and memory stay with its requests.
"""

from __future__ import annotations

import hashlib
import threading
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, Protocol

from service.shared_state import SharedState, SharedStateDown


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


def _version(probe: Probe) -> str:
    """The probe's answer as text, the form in which it is kept and compared (it travels
    between processes when the entries are shared)."""
    return repr(probe())


class _Entries(Protocol):
    """Where entries are kept: this process's memory, or the shared store."""

    def load(self, key: Hashable) -> _Entry | None: ...
    def save(self, key: Hashable, entry: _Entry) -> None: ...
    def touch(self, key: Hashable, checked: float) -> None: ...
    def claim(self, key: Hashable) -> bool: ...
    def release(self, key: Hashable) -> None: ...


class _Local:
    """Entries in this process: bounded, least recently used first out."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.data: OrderedDict[Hashable, _Entry] = OrderedDict()
        self.claimed: set[Hashable] = set()
        self.lock = threading.Lock()

    def load(self, key: Hashable) -> _Entry | None:
        with self.lock:
            entry = self.data.get(key)
            if entry is not None:
                self.data.move_to_end(key)
            return entry

    def save(self, key: Hashable, entry: _Entry) -> None:
        with self.lock:
            self.data[key] = entry
            self.data.move_to_end(key)
            while len(self.data) > self.size:
                self.data.popitem(last=False)

    def touch(self, key: Hashable, checked: float) -> None:
        with self.lock:
            entry = self.data.get(key)
            if entry is not None:
                entry.checked = checked

    def claim(self, key: Hashable) -> bool:
        with self.lock:
            if key in self.claimed:
                return False
            self.claimed.add(key)
            return True

    def release(self, key: Hashable) -> None:
        with self.lock:
            self.claimed.discard(key)


# A refresh claimed by a process that died is given up after this many seconds (the first
# view of the million-response demo takes some 15 s to compute).
CLAIM_SECONDS = 120


class _Shared:
    """Entries in Redis, one hash each, gone ``max_age`` seconds after they were computed (so
    Redis bounds their number by time; its ``maxmemory`` policy bounds their size)."""

    FIELDS = ("packed", "at", "version", "checked")

    def __init__(self, store: SharedState, max_age: float) -> None:
        self.store, self.max_age = store, max_age

    @staticmethod
    def name(key: Hashable, *suffix: str) -> str:
        # Keys are tuples of plain values and frozen dataclasses, whose repr is stable.
        digest = hashlib.sha256(repr(key).encode()).hexdigest()[:40]
        return SharedState.key("dash", digest, *suffix)

    def load(self, key: Hashable) -> _Entry | None:
        raw = self.store.run(lambda r: r.hmget(self.name(key), self.FIELDS))
        packed, at, version, checked = raw  # bytes: the client does not decode
        if not (isinstance(packed, bytes) and isinstance(version, bytes)) or None in (at, checked):
            return None
        return _Entry(packed, float(at or 0), version.decode(), float(checked or 0))

    def save(self, key: Hashable, entry: _Entry) -> None:
        name, ttl = self.name(key), max(1, int(self.max_age * 1000))
        fields = {
            "packed": entry.packed,
            "at": repr(entry.at),
            "version": str(entry.version),
            "checked": repr(entry.checked),
        }

        def put(r: Any) -> Any:
            pipe = r.pipeline()
            pipe.hset(name, mapping=fields)
            pipe.pexpire(name, ttl)
            return pipe.execute()

        self.store.run(put)

    def touch(self, key: Hashable, checked: float) -> None:
        self.store.run(lambda r: r.hset(self.name(key), "checked", repr(checked)))

    def claim(self, key: Hashable) -> bool:
        name = self.name(key, "refresh")
        return bool(self.store.run(lambda r: r.set(name, b"1", nx=True, ex=CLAIM_SECONDS)))

    def release(self, key: Hashable) -> None:
        self.store.run(lambda r: r.delete(self.name(key, "refresh")))

    def clear(self) -> None:
        def forget(r: Any) -> None:
            for name in r.scan_iter(match=SharedState.key("dash", "*"), count=500):
                r.unlink(name)

        self.store.run(forget)


class _Refresher:
    """This process's background refreshes: queued by key, run one at a time by one thread
    (which ends when the queue is empty), each after the rest its predecessor earned."""

    def __init__(self, pace: float) -> None:
        self.pace = pace
        self._queue: OrderedDict[Hashable, Callable[[], None]] = OrderedDict()
        self._thread: threading.Thread | None = None
        self._rest_until = 0.0  # time.monotonic()
        self._lock = threading.Lock()

    def submit(self, key: Hashable, job: Callable[[], None]) -> None:
        with self._lock:
            self._queue.setdefault(key, job)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            rest = self._rest_until - time.monotonic()
            if rest > 0:
                time.sleep(rest)
            with self._lock:
                if not self._queue:
                    self._thread = None
                    return
                _, job = self._queue.popitem(last=False)
            started = time.monotonic()
            try:
                job()
            finally:
                ended = time.monotonic()
                self._rest_until = ended + self.pace * (ended - started)


class StaleWhileRevalidate:
    """Keyed values with a fresh window, a stale window refreshed in the background, and a
    bounded size (least recently used first out), in this process or in the shared store."""

    def __init__(
        self,
        *,
        fresh: float = 5.0,
        quiet: float = 60.0,
        max_age: float = 900.0,
        size: int = 128,
        pace: float = 3.0,
        clock: Callable[[], float] | None = None,
        shared: SharedState | None = None,
    ) -> None:
        self.fresh, self.quiet, self.max_age, self.size = fresh, quiet, max_age, size
        self._refresher = _Refresher(pace)
        self._shared = _Shared(shared, max_age) if shared is not None and shared.shared else None
        # Shared entries are compared across processes, so by the wall clock; a process's own
        # by the monotonic one, which no clock adjustment moves.
        self.clock = clock or (time.time if self._shared is not None else time.monotonic)
        self._local = _Local(size)
        self._refreshing: set[Hashable] = set()  # refreshes running in this process
        self._lock = threading.Lock()
        self.hits = self.stale_hits = self.misses = 0

    @property
    def _data(self) -> OrderedDict[Hashable, _Entry]:
        return self._local.data

    def get(
        self,
        key: Hashable,
        compute: Callable[[], str],
        version: Probe | None = None,
        background: Callable[[], str] | None = None,
    ) -> str:
        """The value for key: cached, cached while refreshing, or computed now. A refresh in
        the background calls ``background`` when given (the same value computed elsewhere,
        e.g. in a child process), ``compute`` otherwise."""
        if self._shared is not None:
            try:
                return self._get(self._shared, key, compute, version, background)
            except SharedStateDown:
                pass  # this process's own entries until Redis answers again
        return self._get(self._local, key, compute, version, background)

    def _get(
        self,
        store: _Entries,
        key: Hashable,
        compute: Callable[[], str],
        version: Probe | None,
        background: Callable[[], str] | None,
    ) -> str:
        now = self.clock()
        entry = store.load(key)
        if entry is not None and (
            now - entry.at <= self.fresh
            or (
                version is not None
                and now - entry.at <= self.quiet
                and now - entry.checked <= self.fresh
            )
        ):
            self._count("hits")
            return entry.value
        if (
            entry is not None
            and version is not None
            and now - entry.at <= self.quiet
            and _version(version) == entry.version  # a query
        ):
            store.touch(key, now)
            self._count("hits")
            return entry.value
        if entry is not None and now - entry.at <= self.max_age:
            self._count("stale_hits")
            with self._lock:
                mine = key not in self._refreshing
                if mine:
                    self._refreshing.add(key)
            if mine:
                self._start_refresh(store, key, background or compute, version)
            return entry.value
        self._count("misses")
        return self._compute(store, key, compute, version)

    def _count(self, name: str) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + 1)

    def _start_refresh(
        self, store: _Entries, key: Hashable, compute: Callable[[], str], version: Probe | None
    ) -> None:
        self._refresher.submit(key, lambda: self._refresh(store, key, compute, version))

    def _done(self, key: Hashable) -> None:
        with self._lock:
            self._refreshing.discard(key)

    def _compute(
        self, store: _Entries, key: Hashable, compute: Callable[[], str], version: Probe | None
    ) -> str:
        # The version is read first: a change made while computing shows at the next probe.
        seen = _version(version) if version is not None else None
        value = compute()
        at = self.clock()
        entry = _Entry(zlib.compress(value.encode(), 1), at, seen, at)
        try:
            store.save(key, entry)
        except SharedStateDown:
            self._local.save(key, entry)  # kept here until Redis answers again
        return value

    def _refresh(
        self, store: _Entries, key: Hashable, compute: Callable[[], str], version: Probe | None
    ) -> None:
        # Claimed when it starts, not when it was queued: a process whose queue is long
        # leaves the key to one that gets to it first.
        try:
            claimed = store.claim(key)
        except SharedStateDown:
            claimed = False
        if not claimed:  # another process refreshes it (or Redis just went away)
            self._done(key)
            return
        try:
            self._compute(store, key, compute, version)
        except Exception:  # the stale value stays; the next request tries again
            pass
        finally:
            try:
                store.release(key)
            except SharedStateDown:
                pass  # the claim expires by itself
            self._done(key)

    def clear(self) -> None:
        """Forget everything, in every process (e.g. after an import replaced a campaign's
        data)."""
        with self._local.lock:
            self._local.data.clear()
        if self._shared is not None:
            try:
                self._shared.clear()
            except SharedStateDown:
                pass  # the shared entries still go by the version probe and max_age
