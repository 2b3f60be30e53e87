"""A batch's last round trip on PostgreSQL, sent without holding the event loop for the answer.

The writer stores on the event loop (see ``writer``). The last round trip of a batch (its
write, the statistics and COMMIT: ``store_pg.Tail``) is most of the server's work for it,
the commit's flush included, and while the loop waited for it no request was read, checked
or answered: measured with 64 clients, the worker was busy for only 29-48% of the time. Here
that round trip is sent as one query string and its answer read when the connection's socket
says it is there (``loop.add_reader``); the loop serves requests meanwhile, and the responses
that arrive queue for the next batch.

The statements are bound on the client (psycopg's ``ClientCursor.mogrify``: the values become
quoted literals, as the server would read them from parameters) so that all of them travel in
one simple query; in the transaction the batch's read opened, the server runs them in order,
skips the rest after an error and leaves the transaction aborted, as the pipeline did.
"""

from __future__ import annotations

import asyncio
import select
from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import Connection

from surveys.forms.store_pg import Tail

Done = Callable[[BaseException | None], None]


class InFlight:
    """One tail sent on a connection; ``done`` is called once with None (it landed: the
    COMMIT answered) or the error (nothing of the batch may be taken as stored)."""

    def __init__(self, conn: Connection, tail: Tail, done: Done) -> None:
        import psycopg  # PostgreSQL only

        raw: Any = conn.connection.dbapi_connection
        self._raw = raw
        self._pg = self._raw.pgconn
        self._fd = self._pg.socket
        self._done: Done | None = done
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        cur = psycopg.ClientCursor(raw)
        try:
            query = ";\n".join(
                cur.mogrify(sql, params) if params is not None else sql
                for sql, params in tail.statements
            )
        finally:
            cur.close()
        self._pg.send_query(query.encode(raw.info.encoding))

    def watch(self, loop: asyncio.AbstractEventLoop) -> None:
        """Finish on the loop: flush what the socket did not take yet, read when readable."""
        self._loop = loop
        loop.add_reader(self._fd, self._readable)
        self._writable()

    def wait(self) -> None:
        """Finish here, blocking (the writer stops while a tail is in flight)."""
        if self._loop is not None:
            self._unwatch()
        while self._done is not None:
            try:
                pending = self._pg.flush()
            except Exception as exc:
                self._finish(exc)
                return
            select.select([self._fd], [self._fd] if pending else [], [], 1.0)
            self._readable()

    def _writable(self) -> None:
        assert self._loop is not None
        try:
            pending = self._pg.flush()
        except Exception as exc:
            # From the loop, never from within ``watch``: ``done`` may start the next batch,
            # which must not run inside the writer's flush that sent this one.
            self._loop.call_soon(self._finish, exc)
            return
        if pending:
            self._loop.add_writer(self._fd, self._writable)
        else:
            self._loop.remove_writer(self._fd)

    def _readable(self) -> None:
        import psycopg  # PostgreSQL only
        from psycopg import pq

        try:
            self._pg.consume_input()
            while not self._pg.is_busy():
                result = self._pg.get_result()
                if result is None:  # every statement answered
                    self._finish(self._error)
                    return
                if result.status == pq.ExecStatus.FATAL_ERROR and self._error is None:
                    self._error = psycopg.errors.error_from_result(
                        result, encoding=self._raw.info.encoding
                    )
        except Exception as exc:  # the connection broke
            self._finish(exc)

    def _finish(self, error: BaseException | None) -> None:
        if self._done is None:
            return
        if self._loop is not None:
            self._unwatch()
        done, self._done = self._done, None
        done(error)

    def _unwatch(self) -> None:
        assert self._loop is not None
        self._loop.remove_reader(self._fd)
        self._loop.remove_writer(self._fd)
        self._loop = None
