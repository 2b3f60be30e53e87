"""Storing responses: one batch function for every path, and the group-commit writer.

``store_batch`` is the only code that inserts responses. In one transaction it recognises
retries (same campaign and submission key), re-checks the campaign window, redeems invitation
codes (``UPDATE ... WHERE used = false``), counts abuse marks, inserts responses and answers
with plain multi-row SQL, freezes the questionnaire and calls ``stats.record_batch``. An item
that fails (used code, closed campaign) gets its own error; the others are stored.

``ResponseWriter`` is one thread per process. Requests hand it a checked response and await
a future; the thread takes everything that is waiting, stores it with ``store_batch`` in one
transaction, and answers every request of the batch only after the commit returned. While one
batch commits the next one gathers, so the commit cost is shared under load and nothing waits
for a timer when the server is idle. When a batch hits a constraint (the same submission or
code raced in from another process), it is rolled back and its items are stored one by one,
so one conflicting item never costs the others.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fastapi import FastAPI
from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from service.db import utcnow
from service.errors import AppError, Conflict, Gone, Invalid, NotFound
from surveys.forms import stats
from surveys.forms.abuse import apply_marks, format_flags, is_flagged
from surveys.forms.models import (
    ANSWER_TABLE,
    CAMPAIGN_TABLE,
    INVITATION_TABLE,
    RESPONSE_TABLE,
    SURVEY_TABLE,
)

log = logging.getLogger(__name__)

_INSERT_RESPONSES = insert(RESPONSE_TABLE).returning(
    RESPONSE_TABLE.c.id, sort_by_parameter_order=True
)
_INSERT_ANSWERS = insert(ANSWER_TABLE)


class Unavailable(AppError):
    status_code = 503

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.headers = {"Retry-After": "1"}


@dataclass(slots=True)
class Pending:
    """A checked response waiting to be stored (no code, address or device: only keyed hashes)."""

    campaign_id: int
    survey_id: int
    unit_id: int
    answers: list[tuple[str, float | None, str | None]]
    submission_key: str
    area_unit_id: int | None = None
    age_band: str | None = None
    sex: str | None = None
    comment: str | None = None
    code_hash: str | None = None
    client_hash: str | None = None
    comment_hash: str | None = None
    flags: set[str] = field(default_factory=set)
    source: str = "web"
    # When the response was given (imports and demo data carry their own); default: now.
    submitted_at: datetime | None = None


@dataclass(slots=True, frozen=True)
class Stored:
    id: int
    created: bool


Outcome = Stored | AppError


def _hour(t: datetime) -> datetime:
    return t.replace(minute=0, second=0, microsecond=0)


def store_batch(
    conn: Connection,
    items: Sequence[Pending],
    *,
    now: datetime | None = None,
    enforce_window: bool = True,
) -> list[Outcome]:
    """Store what can be stored of items in the caller's transaction; one outcome per item.

    ``enforce_window=False`` is for imports and demo data, given after the fact.
    """
    now = now or utcnow()
    n = len(items)
    out: list[Outcome | None] = [None] * n
    # The same submission twice in one batch: the later copies share the first one's outcome.
    first: dict[tuple[int, str], int] = {}
    alias: dict[int, int] = {}
    for i, it in enumerate(items):
        k = (it.campaign_id, it.submission_key)
        if k in first:
            alias[i] = first[k]
        else:
            first[k] = i
    live = [i for i in range(n) if i not in alias]

    # Retries of what is already stored get the original id, whatever else has changed since.
    for cid, idx in _group(items, live).items():
        keys = {items[i].submission_key: i for i in idx}
        rows = conn.execute(
            select(RESPONSE_TABLE.c.id, RESPONSE_TABLE.c.submission_key)
            .where(RESPONSE_TABLE.c.campaign_id == cid)
            .where(RESPONSE_TABLE.c.submission_key.in_(list(keys)))
        )
        for rid, key in rows:
            out[keys[key]] = Stored(rid, False)
    live = [i for i in live if out[i] is None]

    # The campaign window, as the database has it now.
    groups = _group(items, live) if enforce_window else {}
    windows = {
        cid: (opens, closes)
        for cid, opens, closes in conn.execute(
            select(
                CAMPAIGN_TABLE.c.id, CAMPAIGN_TABLE.c.opens_at, CAMPAIGN_TABLE.c.closes_at
            ).where(CAMPAIGN_TABLE.c.id.in_(list(groups)))
        )
    }
    for cid, idx in groups.items():
        window = windows.get(cid)
        err: AppError | None = None
        if window is None:
            err = NotFound("Campaign not found")
        elif now < window[0]:
            err = Conflict("This survey is not open yet")
        elif now >= window[1]:
            err = Gone("This survey has closed")
        if err is not None:
            for i in idx:
                out[i] = err
    live = [i for i in live if out[i] is None]

    _redeem_codes(conn, items, live, out)
    live = [i for i in live if out[i] is None]

    if live:
        _insert(conn, items, live, out, now)
    for i, j in alias.items():
        out[i] = out[j]
    return out  # type: ignore[return-value]


def _group(items: Sequence[Pending], idx: list[int]) -> dict[int, list[int]]:
    groups: dict[int, list[int]] = {}
    for i in idx:
        groups.setdefault(items[i].campaign_id, []).append(i)
    return groups


def _redeem_codes(
    conn: Connection, items: Sequence[Pending], live: list[int], out: list[Outcome | None]
) -> None:
    """Mark each code used, at most once: ``used = false`` in the WHERE makes racing redeemers lose."""
    for cid, idx in _group(items, [i for i in live if items[i].code_hash]).items():
        wanted: dict[str, int] = {}
        for i in idx:
            h = items[i].code_hash
            assert h is not None
            if h in wanted:
                out[i] = Conflict("This invitation code has already been used")
            else:
                wanted[h] = i
        redeemed = {
            row[0]
            for row in conn.execute(
                update(INVITATION_TABLE)
                .where(INVITATION_TABLE.c.campaign_id == cid)
                .where(INVITATION_TABLE.c.code_hash.in_(sorted(wanted)))
                .where(INVITATION_TABLE.c.used.is_(False))
                .values(used=True)
                .returning(INVITATION_TABLE.c.code_hash)
            )
        }
        missing = [h for h in wanted if h not in redeemed]
        if not missing:
            continue
        known = {
            row[0]
            for row in conn.execute(
                select(INVITATION_TABLE.c.code_hash)
                .where(INVITATION_TABLE.c.campaign_id == cid)
                .where(INVITATION_TABLE.c.code_hash.in_(missing))
            )
        }
        for h in missing:
            if h in known:
                out[wanted[h]] = Conflict("This invitation code has already been used")
            else:
                out[wanted[h]] = Invalid.field(
                    ("body", "invitation_code"), "unknown invitation code"
                )


def _insert(
    conn: Connection,
    items: Sequence[Pending],
    live: list[int],
    out: list[Outcome | None],
    now: datetime,
) -> None:
    marks = apply_marks(
        conn,
        now=now,
        items=[(items[i].campaign_id, items[i].client_hash, items[i].comment_hash) for i in live],
    )
    rows: list[dict[str, Any]] = []
    for i, extra in zip(live, marks, strict=True):
        it = items[i]
        flags = it.flags | extra
        rows.append(
            {
                "campaign_id": it.campaign_id,
                "unit_id": it.unit_id,
                "area_unit_id": it.area_unit_id,
                "age_band": it.age_band,
                "sex": it.sex,
                "submitted_hour": _hour(it.submitted_at or now),
                "comment": it.comment,
                "source": it.source,
                "flags": format_flags(flags),
                "flagged": is_flagged(flags),
                "submission_key": it.submission_key,
            }
        )
    ids = [row[0] for row in conn.execute(_INSERT_RESPONSES, rows)]
    answers = [
        {"response_id": rid, "question_key": k, "value_num": num, "value_text": txt}
        for rid, i in zip(ids, live, strict=True)
        for k, num, txt in items[i].answers
    ]
    if answers:
        conn.execute(_INSERT_ANSWERS, answers)
    surveys = sorted({items[i].survey_id for i in live})
    conn.execute(
        update(SURVEY_TABLE)
        .where(SURVEY_TABLE.c.id.in_(surveys))
        .where(SURVEY_TABLE.c.frozen.is_(False))
        .values(frozen=True)
    )
    batch = []
    for rid, i, row in zip(ids, live, rows, strict=True):
        out[i] = Stored(rid, True)
        batch.append(
            {
                "response_id": rid,
                "campaign_id": row["campaign_id"],
                "unit_id": row["unit_id"],
                "area_unit_id": row["area_unit_id"],
                "age_band": row["age_band"],
                "sex": row["sex"],
                "submitted_hour": row["submitted_hour"],
                "flagged": row["flagged"],
                "answers": {k: (num, txt) for k, num, txt in items[i].answers},
            }
        )
    stats.record_batch(conn, batch)


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that holds the write lock from its first statement on SQLite.

    SQLite would otherwise start a read transaction at the first SELECT and fail, rather than
    wait, when it then needs to write while another process writes; BEGIN IMMEDIATE waits.
    """
    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        yield conn


def store_now(
    engine: Engine, items: Sequence[Pending], *, now: datetime | None = None
) -> list[Outcome]:
    """Store a batch in its own transaction; after a constraint race, store items one by one."""
    try:
        with write_transaction(engine) as conn:
            return store_batch(conn, items, now=now)
    except DBAPIError as exc:
        log.info("batch of %d hit %s; storing one by one", len(items), type(exc.orig).__name__)
    return [_store_one(engine, it, now) for it in items]


def _store_one(engine: Engine, item: Pending, now: datetime | None, attempts: int = 3) -> Outcome:
    # After a racing twin committed, the next attempt sees it (a replay, or a used code).
    for _ in range(attempts):
        try:
            with write_transaction(engine) as conn:
                return store_batch(conn, [item], now=now)[0]
        except DBAPIError as exc:
            problem = type(exc.orig).__name__
    log.warning("could not store a response: %s", problem)
    return Unavailable("The response could not be stored; please send it again")


class ResponseWriter:
    """One thread per process that stores responses in batches (group commit)."""

    def __init__(self, engine: Engine, *, max_batch: int = 512, max_pending: int = 20_000) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self.max_pending = max_pending
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.batches = 0
        self.stored = 0

    def start(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="minyi-response-writer", daemon=True
                )
                self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Store what is waiting, then end the thread."""
        with self._lock:
            thread = self._thread
            self._thread = None
        if thread is not None and thread.is_alive():
            self._queue.put(None)
            thread.join(timeout)

    async def submit(self, item: Pending) -> Stored:
        """Queue one response and wait until its batch is committed (or it failed)."""
        if self._queue.qsize() >= self.max_pending:
            raise Unavailable("The server is busy; please send your response again")
        if self._thread is None:
            self.start()
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Outcome] = loop.create_future()
        self._queue.put((item, loop, fut))
        result = await fut
        if isinstance(result, AppError):
            raise result
        return result

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                break
            work = [first]
            while len(work) < self.max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stopping = True
                    break
                work.append(nxt)
            try:
                outcomes = store_now(self.engine, [w[0] for w in work])
            except Exception:
                log.exception("response batch failed")
                failed = Unavailable("The response could not be stored; please send it again")
                outcomes = [failed] * len(work)
            self.batches += 1
            self.stored += sum(1 for o in outcomes if isinstance(o, Stored) and o.created)
            by_loop: dict[
                asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Outcome], Outcome]]
            ] = {}
            for (_item, loop, fut), outcome in zip(work, outcomes, strict=True):
                by_loop.setdefault(loop, []).append((fut, outcome))
            for loop, pairs in by_loop.items():
                try:
                    loop.call_soon_threadsafe(_deliver, pairs)
                except RuntimeError:
                    pass  # the loop is closed: nobody is waiting any more


def _deliver(pairs: list[tuple[asyncio.Future[Outcome], Outcome]]) -> None:
    for fut, outcome in pairs:
        if not fut.done():
            fut.set_result(outcome)


def get_writer(app: FastAPI) -> ResponseWriter:
    """The app's writer, created on first use and stopped (after draining) at shutdown."""
    writer: ResponseWriter | None = getattr(app.state, "response_writer", None)
    if writer is None:
        writer = ResponseWriter(app.state.engine)
        app.state.response_writer = writer
        app.state.shutdown_hooks.append(lambda _app: writer.stop())
    return writer
