"""The background job that scores comments, owned by the app (started and stopped with it).

Scoring writes (``comment_sentiment``, ``comment_scan_mark``), so no GET request does it. The
job walks the campaigns in turn, scores what is past each one's mark in small batches, each
batch in a transaction of its own, then scores again the rows an older model stored (so a new
``MODEL_NAME`` reaches every stored comment), and rests ``interval`` seconds once nothing is left. A pass
over campaigns with nothing new reads a few rows per campaign and writes nothing, so the
dashboard's cached bundles stay valid; a pass that scored moves the marks, which refreshes them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from analytics.comments.scoring import rescore_stale, score_pending
from surveys.forms.models import Campaign

log = logging.getLogger(__name__)

# Comments per transaction: a batch is stored, and shown, without waiting for the rest.
BATCH = 64


def score_step(engine: Engine, *, limit: int = BATCH) -> int:
    """Score up to ``limit`` pending comments over all campaigns; returns how many were scored."""
    with Session(engine) as s:
        campaign_ids = [
            int(c) for c in s.execute(select(col(Campaign.id)).order_by(col(Campaign.id))).scalars()
        ]
    done = 0
    for cid in campaign_ids:
        while done < limit:
            want = limit - done
            with Session(engine) as s:
                n = score_pending(s, campaign_id=cid, limit=want)
                s.commit()
            done += n
            if n < want:
                break
    if done < limit:
        # Rows of an older model, once nothing new waits: new comments come first.
        with Session(engine) as s:
            done += rescore_stale(s, limit=limit - done)
            s.commit()
    return done


def score_all(engine: Engine) -> int:
    """Score every pending comment now (tests and tools that need it done); returns how many."""
    total = 0
    while n := score_step(engine, limit=1000):
        total += n
    return total


# While responses are arriving, one batch per this many seconds at most.
BUSY_PACE = 1.0


class ScoringJob:
    """A daemon thread running ``score_step`` until stopped; ``wake`` ends a rest early.

    ``busy`` says whether responses are being stored right now (the app's response writer).
    Scoring then keeps to one batch per ``BUSY_PACE`` seconds: the thread runs at the lowest
    CPU priority, but its Python parts (the ORM, the model's features) hold the interpreter
    lock, which the event loop then waits for. Measured with 64 clients posting responses
    with comments on PostgreSQL: the job took about a third of the worker's samples and 0.08
    ms of its CPU per response. The backlog is scored at full pace once the burst is over.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        interval: float,
        batch: int = BATCH,
        busy: Callable[[], bool] | None = None,
    ) -> None:
        self.engine = engine
        self.interval = interval
        self.batch = batch
        self.busy = busy
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread (once)."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="minyi-comment-scoring", daemon=True
            )
            self._thread.start()

    def wake(self) -> None:
        """Run the next pass now rather than after the rest."""
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the thread to stop after its current batch and wait for it."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        # The lowest CPU priority for this thread only (Linux takes a thread id here): the model
        # runs in C without the interpreter lock, so it would otherwise take a core from the
        # request path under load; scoring can wait, answering cannot.
        with contextlib.suppress(OSError, AttributeError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        last = -BUSY_PACE
        while not self._stop.is_set():
            if self.busy is not None and self.busy():
                wait = last + BUSY_PACE - time.monotonic()
                if wait > 0:
                    self._stop.wait(min(wait, 0.25))
                    continue
            last = time.monotonic()
            try:
                n = score_step(self.engine, limit=self.batch)
            except Exception:  # the database may be down for a while: try again later
                log.exception("comment scoring failed")
                n = 0
            if n < self.batch:
                self._wake.wait(self.interval)
                self._wake.clear()
