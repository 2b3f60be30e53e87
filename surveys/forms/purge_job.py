"""The background job that purges closed campaigns' abuse data, owned by the app.

A closed campaign's abuse-detection data (``abuse_mark``, and the invitations' transaction
ids) is deleted by this job within ``interval`` seconds of closing, or at once with ``minyi
campaigns purge``; reading a campaign or its form never writes. The job passes once when the
app starts, then every ``interval`` seconds; a pass with nothing closed reads one small query.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy.engine import Engine
from sqlmodel import Session

from surveys.forms.service import purge_and_record

log = logging.getLogger(__name__)

# The audit trail's actor for purges nobody asked for (the CLI records "cli").
JOB_ACTOR = "purge-job"


def purge_step(engine: Engine) -> list[int]:
    """Purge every closed campaign not yet purged, audited, in one transaction; their ids."""
    with Session(engine) as s:
        ids = purge_and_record(s, actor=JOB_ACTOR)
        s.commit()
    return ids


class PurgeJob:
    """A daemon thread running ``purge_step`` now and then every ``interval`` seconds.

    ``on_purged`` hears each purged campaign id once it is committed (the app forgets the
    cached form, which remembers whether the campaign was purged).
    """

    def __init__(
        self,
        engine: Engine,
        *,
        interval: float,
        on_purged: Callable[[int], None] | None = None,
    ) -> None:
        self.engine = engine
        self.interval = interval
        self.on_purged = on_purged
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread (once); its first pass runs at once."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="minyi-purge", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the thread to stop after its current pass and wait for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                for cid in purge_step(self.engine):
                    if self.on_purged is not None:
                        self.on_purged(cid)
            except Exception:  # the database may be down for a while: try again later
                log.exception("purging closed campaigns failed")
            self._stop.wait(self.interval)
