"""Keep a worker's memory from creeping up under the thread pool's analytics.

glibc's allocator gives threads that allocate at the same time arenas of their own (up to
eight per core) and hands freed pages back to the system only from the top of each heap.
The dashboard and indicator views run in the thread pool and allocate large numpy
temporaries; spread over many arenas, the freed space fragments and the worker's RSS climbs
with every new filter an evaluator tries (``bench/soak.py``: +12% in four minutes on one
worker, against +1.5% on a worker serving only residents). Two arenas, and giving the free
pages back every few seconds from a thread of its own, keep the RSS near its working size.

Elsewhere (musl, macOS) these are no-ops.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import threading

log = logging.getLogger(__name__)

M_ARENA_MAX = -8  # from glibc's malloc.h
ARENAS = 2


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        libc = ctypes.CDLL(name)
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


_LIBC = _libc()


def limit_arenas(arenas: int = ARENAS) -> bool:
    """Cap the allocator's arenas for the threads this process starts from now on; True when
    the allocator took it (glibc)."""
    if _LIBC is None:
        return False
    return bool(_LIBC.mallopt(M_ARENA_MAX, arenas))


def give_back() -> None:
    """Return the allocator's free pages to the system (after a large computation)."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


class Trimmer:
    """Gives free pages back every ``interval`` seconds until stopped (one per process)."""

    def __init__(self, interval: float = 10.0) -> None:
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="malloc-trim", daemon=True)

    def start(self) -> Trimmer:
        if _LIBC is not None:
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            give_back()
