"""Calls run in a child process of this one, at a lower CPU priority.

Some work an app process does for later requests, not for the one at hand: the dashboard's
background refreshes compute every figure of a campaign again, seconds and a few hundred
megabytes at ten million responses. Run in the worker that also answers requests, that work
holds the interpreter lock in turns with them (a 120 ms view took 250-510 ms beside a
refresh) and adds its peak to the worker's memory. An ``Offload`` runs such calls in one child
process instead: started (spawned, so nothing of the worker's threads or locks is copied) at
the first call, niced so that the operating system gives requests the cores first, and
stopped once it has had nothing to do for ``idle`` seconds, which hands its memory back.

A call blocks its caller until the child answers, and raises what the call raised there (as
``OffloadError`` when it cannot be sent back). A child that dies or answers nothing within
``timeout`` seconds is killed, the call raises ``OffloadError``, and the next call starts a
new child. Calls take a module-level function and picklable arguments, and one call runs at a
time. The child leaves with its parent: its next read of the pipe ends.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import threading
import time
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, TypeVar

from service.memory import give_back

T = TypeVar("T")


class OffloadError(RuntimeError):
    """The call did not complete in the child (it died, timed out, or its error could not be
    sent back)."""


def _serve(conn: Connection, nice: int) -> None:
    """The child: run calls until the pipe closes (the parent stopped it, or died)."""
    try:
        os.nice(nice)
    except OSError:
        pass  # not allowed here: run at the parent's priority
    while True:
        try:
            call = conn.recv()
        except (EOFError, OSError):
            return
        if call is None:
            return
        fn, args = call
        try:
            answer: tuple[bool, Any] = (True, fn(*args))
        except Exception as exc:  # sent back and raised in the parent
            answer = (False, exc)
        try:
            conn.send(answer)
        except Exception:  # the result or the error does not pickle
            conn.send((False, OffloadError(traceback.format_exc(limit=5))))
        del call, fn, args, answer
        # What the call let go of, handed back before the process waits: the allocator's
        # free pages, and anything only reference cycles still hold. Milliseconds, between
        # calls that take seconds.
        gc.collect()
        give_back()


class Offload:
    """One child process running calls for this process (see the module's docstring)."""

    def __init__(
        self, *, idle: float = 300.0, timeout: float = 600.0, nice: int = 10, name: str = "offload"
    ) -> None:
        self.idle, self.timeout, self.nice, self.name = idle, timeout, nice, name
        self._lock = threading.Lock()  # one call at a time, and the child's start and stop
        self._proc: BaseProcess | None = None
        self._conn: Connection | None = None
        self._last = 0.0  # time.monotonic() at the end of the last call
        self._timer: threading.Timer | None = None
        self.calls = self.starts = 0

    @property
    def pid(self) -> int | None:
        """The child's process id while it runs."""
        proc = self._proc
        return proc.pid if proc is not None and proc.is_alive() else None

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """fn(*args) in the child: its result, or what it raised."""
        with self._lock:
            conn = self._start()
            try:
                conn.send((fn, args))
                ok, value = self._answer(conn)
            except (OSError, EOFError) as exc:
                self._stop()
                raise OffloadError(f"the {self.name} process stopped: {exc!r}") from exc
            except OffloadError:
                self._stop()
                raise
            finally:
                self.calls += 1
                self._last = time.monotonic()
                self._arm()
        if ok:
            result: T = value
            return result
        raise value

    def _answer(self, conn: Connection) -> tuple[bool, Any]:
        deadline = time.monotonic() + self.timeout
        # Polled in short waits so that a child killed mid-call is noticed at once.
        while not conn.poll(0.2):
            proc = self._proc
            if proc is None or not proc.is_alive():
                raise OffloadError(
                    f"the {self.name} process died (exit code {proc and proc.exitcode})"
                )
            if time.monotonic() > deadline:
                raise OffloadError(
                    f"the {self.name} process gave no answer in {self.timeout:.0f} s"
                )
        try:
            answer: tuple[bool, Any] = conn.recv()
        except (OSError, EOFError):
            raise
        except Exception as exc:  # an answer that does not unpickle here
            return False, OffloadError(f"the {self.name} process's answer: {exc!r}")
        return answer

    def _start(self) -> Connection:
        if self._proc is not None and self._conn is not None and self._proc.is_alive():
            return self._conn
        self._stop()
        ctx = multiprocessing.get_context("spawn")
        mine, theirs = ctx.Pipe()
        proc = ctx.Process(
            target=_serve, args=(theirs, self.nice), name=f"minyi-{self.name}", daemon=True
        )
        proc.start()
        theirs.close()
        self._proc, self._conn = proc, mine
        self.starts += 1
        return mine

    def _stop(self) -> None:
        proc, conn = self._proc, self._conn
        self._proc = self._conn = None
        if conn is not None:
            try:
                conn.send(None)
            except (OSError, ValueError):
                pass
            conn.close()
        if proc is not None:
            proc.join(2)
            if proc.is_alive():
                proc.kill()
                proc.join(2)

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = threading.Timer(self.idle, self._idle)
        self._timer.daemon = True
        self._timer.start()

    def _idle(self) -> None:
        # Not while a call runs: that call re-arms the timer when it ends.
        if not self._lock.acquire(blocking=False):
            return
        try:
            if time.monotonic() - self._last >= self.idle - 0.01:
                self._stop()
        finally:
            self._lock.release()

    def close(self) -> None:
        """Stop the child (at the app's shutdown); a later call starts another."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._stop()
