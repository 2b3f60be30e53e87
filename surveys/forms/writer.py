"""The group-commit writer of the public response post (built once per app).

``ResponseWriter`` does group commit: requests hand it a checked response and await a future;
everything that arrived meanwhile is stored in one transaction (on the event loop; in a worker
thread while a lock held elsewhere makes it wait), and every request of the batch is answered
only after the commit returned. Under load the commit cost is shared by many responses; when
idle, nothing waits for a timer. Storing itself is ``store.store_now``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

from sqlalchemy.engine import Connection, Engine, RootTransaction
from sqlalchemy.exc import DBAPIError, OperationalError

from service.db import LOCK_WAIT_MS
from service.errors import RETRY_AFTER_BUSY, RETRY_AFTER_DOWN, AppError, database_fault
from surveys.forms.inflight import InFlight
from surveys.forms.store import Outcome, Pending, Stored, Unavailable, store_batch, store_now
from surveys.forms.store_pg import Tail

log = logging.getLogger(__name__)


class Busy(Exception):
    """The database lock was not granted within the short wait allowed on the event loop."""


class Down(Exception):
    """The database refused a new connection: storing cannot succeed until it is back."""


class _Link:
    """The writer's own connection: no pool check-out (nor PostgreSQL's ping) per batch.

    With ``lock_wait_ms`` a lock held elsewhere for longer raises Busy rather than waiting
    (SQLite's busy timeout and PostgreSQL's lock_timeout are set once on this connection).
    """

    def __init__(self, engine: Engine, lock_wait_ms: int | None) -> None:
        self.engine = engine
        self.lock_wait_ms = lock_wait_ms
        self._conn: Connection | None = None
        self._held: RootTransaction | None = None

    def _open(self) -> Connection:
        conn = self.engine.connect()
        if conn.dialect.name == "postgresql":
            # The driver sends no BEGIN of its own: the batch sends it with its first statement
            # (store_pg), one round trip fewer per batch.
            conn.execution_options(isolation_level="AUTOCOMMIT")
        if self.lock_wait_ms is not None:
            wait = int(self.lock_wait_ms)
            if conn.dialect.name == "sqlite":
                conn.exec_driver_sql(f"PRAGMA busy_timeout = {wait}")
            else:  # once per connection, not a round trip per batch
                conn.exec_driver_sql(f"SET lock_timeout = {wait}")
            conn.commit()  # ends SQLAlchemy's autobegun transaction
        return conn

    @contextmanager
    def transaction(self, tail: Tail | None = None) -> Iterator[Connection]:
        """A transaction on the link; with ``tail`` filled by the batch, it is left open for
        the tail's COMMIT and ended by ``settle`` once that landed."""
        if self._conn is None:
            try:
                self._conn = self._open()
            except DBAPIError as exc:
                # A reused connection that broke gets retried on a new one (store_now does);
                # a new one refused means the database is down: no point retrying now.
                if database_fault(exc) == "unavailable":
                    raise Down() from exc
                raise
        conn = self._conn
        sqlite = conn.dialect.name == "sqlite"
        try:
            tx = conn.begin()
            try:
                if sqlite:
                    conn.exec_driver_sql("BEGIN IMMEDIATE")
                yield conn
            except BaseException:
                tx.rollback()
                raise
            if tail:
                self._held = tx
            else:
                tx.commit()
        except OperationalError as exc:
            if self.lock_wait_ms is not None and _is_lock_wait(exc):
                raise Busy() from exc
            self.close()  # the connection may be broken: the next batch opens a new one
            raise
        except DBAPIError:
            if conn.invalidated:
                self.close()
            raise

    def settle(self, landed: bool) -> None:
        """End the transaction a tail held open: the server committed it (nothing is sent), or
        the tail failed and it is rolled back; a connection that broke is closed."""
        tx, self._held = self._held, None
        try:
            if tx is not None:
                tx.commit() if landed else tx.rollback()
        except Exception:
            self.close()
        else:
            if self._conn is not None and self._conn.invalidated:
                self.close()

    def close(self) -> None:
        self._held = None
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None


def _is_lock_wait(exc: OperationalError) -> bool:
    """SQLite's busy timeout or PostgreSQL's lock_timeout ran out."""
    name = type(exc.orig).__name__
    return name == "LockNotAvailable" or "database is locked" in str(exc.orig)


Waiting = tuple[Pending, "asyncio.Future[Outcome]"]


# Loop turns a flush may wait while responses keep arriving.
DEFER_TURNS = 4


class ResponseWriter:
    """Group commit.

    Each request appends its checked response and awaits a future. The first append schedules
    a flush for the loop's next turn, so every response that arrived meanwhile shares one
    transaction; requests are answered only after its commit returned.

    The flush runs on the loop itself: a batch is a few short statements (SQLite in-process,
    PostgreSQL one round trip each). A worker thread cost more than it saved: each return from
    the database had to win the interpreter lock back from the busy loop (measured on
    PostgreSQL with 64 clients: a batch of 32 took 19 ms in the thread, 5 ms of it CPU, for
    1,450 responses/s; 2,000/s on the loop; an async connection on the loop, 1,700/s). But when
    a lock is held elsewhere (a large import, another process) for longer than
    ``lock_wait_ms``, that batch, and every batch after it until the lock is free, goes to the
    worker thread, so the server keeps serving pages while it waits. The thread waits at most
    ``slow_wait_ms`` (the service's lock bound); past it that batch, and every response that
    queued behind it, answers 503 with Retry-After (nothing was stored, so the client's retry
    with the same submission key is safe). No response waits on a lock for much longer than
    ``lock_wait_ms + slow_wait_ms`` (measured in the fault tests).

    On PostgreSQL the loop waits for a batch's read but not for its tail (the write, the
    statistics and COMMIT, ``surveys.forms.inflight``): the loop serves requests while the
    server works, the next batch starts once the tail landed, and a tail that failed has its
    batch stored again the plain way (``_landed``).
    """

    def __init__(
        self,
        engine: Engine,
        *,
        max_batch: int = 512,
        max_pending: int = 20_000,
        lock_wait_ms: int = 100,
        slow_wait_ms: int = LOCK_WAIT_MS,
    ) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self.max_pending = max_pending
        self.lock_wait_ms = lock_wait_ms
        self._pending: list[Waiting] = []
        self._scheduled = False
        self._deferred = 0
        self._seen = -1
        self._offloop: asyncio.Future[list[Outcome]] | None = None
        self._inflight: InFlight | None = None
        self._plain_next = False
        self._stopping = False
        self._last_flush = -1e9
        self._executor: ThreadPoolExecutor | None = None
        # The loop's link gives up on held locks quickly; the worker thread's waits, boundedly.
        self._fast = _Link(engine, lock_wait_ms)
        self._slow = _Link(engine, slow_wait_ms)

    def busy(self, within: float = 0.5) -> bool:
        """Responses were stored within the last ``within`` seconds (background jobs that
        compete for the interpreter hold back meanwhile)."""
        return time.monotonic() - self._last_flush < within

    async def submit(self, item: Pending) -> Stored:
        """Queue one response and wait until its batch is committed (or it failed)."""
        if not _frozen:
            _freeze_heap()  # at the first response: the app has been built and served by then
        if len(self._pending) >= self.max_pending:
            raise Unavailable("The server is busy; please send your response again")
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Outcome] = loop.create_future()
        self._pending.append((item, fut))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        result = await fut
        if isinstance(result, AppError):
            raise result
        return result

    def _flush(self) -> None:
        n = len(self._pending)
        if self._deferred < DEFER_TURNS and n < self.max_batch and n != self._seen:
            # Responses arrived during the last turn of the loop: the requests still in flight
            # get a few more turns to join, so one commit serves them all (measured with 64
            # clients: batches of 23 without this, 62 with it; p99 from 0.2 s to 0.05 s).
            self._deferred += 1
            self._seen = n
            asyncio.get_running_loop().call_soon(self._flush)
            return
        self._deferred = 0
        self._seen = -1
        self._scheduled = False
        self._last_flush = time.monotonic()
        if self._offloop is not None or self._inflight is not None or not self._pending:
            return  # the batch before (its thread or its tail) takes these when it is done
        while self._pending:
            work = self._pending[: self.max_batch]
            try:
                outcomes = self._store_on_loop(work)
            except Busy:
                self._go_off_loop()
                return
            except Down:
                outcomes = [_down()] * len(work)
            except Exception:
                log.exception("response batch failed")
                outcomes = [_failed()] * len(work)
            del self._pending[: len(work)]
            if outcomes is None:
                return  # its tail is in flight: _landed answers it
            self._deliver(work, outcomes)

    def _store_on_loop(self, work: list[Waiting]) -> list[Outcome] | None:
        """Store a batch; on PostgreSQL its last round trip is left in flight (None)."""
        items = [w[0] for w in work]
        plain, self._plain_next = self._plain_next, False
        if plain or self.engine.dialect.name != "postgresql":
            return store_now(self._fast.transaction, items)
        tail = Tail()
        try:
            with self._fast.transaction(tail) as conn:
                outcomes = store_batch(conn, items, last=True, tail=tail)
        except DBAPIError:
            # A constraint race in the batch's statements: store_now's way (item by item).
            return store_now(self._fast.transaction, items)
        if not tail:
            return outcomes  # nothing was written; the transaction has ended
        try:
            flight = InFlight(conn, tail, lambda error: self._landed(work, outcomes, error))
        except Exception:
            log.info("a batch's write could not be sent; storing it in one go", exc_info=True)
            self._fast.settle(landed=False)
            return store_now(self._fast.transaction, items)
        self._inflight = flight
        flight.watch(asyncio.get_running_loop())
        return None

    def _landed(
        self, work: list[Waiting], outcomes: list[Outcome], error: BaseException | None
    ) -> None:
        """A tail answered: its batch is stored (answer it) or nothing of it may be taken as
        stored, and it is stored again the plain way (a race is then retried item by item, a
        held lock goes to the worker thread, a retry finds what a lost answer had committed)."""
        self._inflight = None
        self._fast.settle(landed=error is None)
        if error is None:
            self._deliver(work, outcomes)
        else:
            log.info("a batch of %d hit %s; storing it again", len(work), type(error).__name__)
            self._pending[:0] = work
            self._plain_next = True
        if self._pending and not self._scheduled and not self._stopping:
            self._scheduled = True
            self._flush()

    def _go_off_loop(self) -> None:
        loop = asyncio.get_running_loop()
        work = self._pending[: self.max_batch]
        del self._pending[: len(work)]
        log.debug("storing %d responses in the worker thread", len(work))
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="minyi-writer")
        self._offloop = loop.run_in_executor(self._executor, self._store_blocking, work)
        self._offloop.add_done_callback(lambda f: self._off_loop_done(f, work))

    def _store_blocking(self, work: list[Waiting]) -> list[Outcome]:
        try:
            return store_now(self._slow.transaction, [w[0] for w in work])
        except Busy:
            log.warning("lock held past the bound: %d responses answered 503", len(work))
            return [_busy()] * len(work)
        except Down:
            return [_down()] * len(work)
        except Exception:
            log.exception("response batch failed")
            return [_failed()] * len(work)

    def _off_loop_done(self, fut: asyncio.Future[list[Outcome]], work: list[Waiting]) -> None:
        self._offloop = None
        outcomes = fut.result()
        self._deliver(work, outcomes)
        if outcomes and isinstance(outcomes[0], _LockBusy):
            # The lock is still held: those queued meanwhile would wait a whole bound more.
            queued, self._pending = self._pending, []
            self._deliver(queued, [_busy()] * len(queued))
        if self._pending and not self._scheduled:
            self._scheduled = True
            self._flush()

    def _deliver(self, work: list[Waiting], outcomes: list[Outcome]) -> None:
        try:
            here: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            here = None
        for (_item, fut), outcome in zip(work, outcomes, strict=True):
            if fut.get_loop() is here:
                _resolve(fut, outcome)
            else:  # one app served by two loops (tests do that): hand over safely
                with contextlib.suppress(RuntimeError):  # that loop has closed
                    fut.get_loop().call_soon_threadsafe(_resolve, fut, outcome)

    def stop(self) -> None:
        """Store what is still waiting (no batch in the thread), then release the thread."""
        self._stopping = True
        if self._inflight is not None:
            self._inflight.wait()
        if self._pending and self._offloop is None:
            work, self._pending = self._pending, []
            self._deliver(work, self._store_blocking(work))
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        self._fast.close()
        self._slow.close()


def _resolve(fut: asyncio.Future[Outcome], outcome: Outcome) -> None:
    if not fut.done():
        fut.set_result(outcome)


def _failed() -> Unavailable:
    return Unavailable("The response could not be stored; please send it again")


class _LockBusy(Unavailable):
    """A lock held elsewhere past the bound: nothing of this batch was stored."""

    def __init__(self) -> None:
        super().__init__("The database is busy; please send your response again shortly")
        self.headers = {"Retry-After": str(RETRY_AFTER_BUSY)}


def _busy() -> Unavailable:
    return _LockBusy()


def _down() -> Unavailable:
    error = Unavailable("The database is unavailable; please send your response again shortly")
    error.headers = {"Retry-After": str(RETRY_AFTER_DOWN)}
    return error


_frozen = False


def _freeze_heap() -> None:
    """Move what start-up allocated (modules, the app) out of the cyclic collector's way.

    The full app holds a large heap (numpy, scipy, plotly, jieba); without this the collector
    kept rescanning it and took about a fifth of the CPU of the response path (measured: 1,460
    responses/s before, 1,760 after). Refcounting still frees frozen objects. Once a process.
    """
    global _frozen
    if not _frozen:
        _frozen = True
        gc.freeze()
