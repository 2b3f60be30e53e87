"""Storing responses: one batch function for every path (web writer, imports, demo).

``store_batch`` is the only code that inserts responses. In one transaction it recognises
retries (same campaign and submission key), re-checks the campaign window, redeems invitation
codes (``UPDATE ... WHERE used = false``), counts abuse marks, inserts responses and answers
with plain multi-row SQL, freezes the questionnaire and calls ``stats.record_batch`` (on
PostgreSQL the reads are one statement and the writes one: ``store_pg``). An item
that fails (used code, closed campaign) gets its own error; the others are stored. When a
batch hits a constraint (the same submission or code raced in from another process),
``store_now`` rolls it back and stores its items one by one, so one conflicting item never
costs the others.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from service.db import utcnow
from service.errors import AppError, Conflict, Gone, Invalid, NotFound
from surveys.forms import stats, store_pg
from surveys.forms.abuse import (
    MarkRow,
    advance_marks,
    apply_marks,
    format_flags,
    is_flagged,
    mark_keys,
)
from surveys.forms.bulk import Bulk, ResponseRow, one_of
from surveys.forms.models import (
    CAMPAIGN_TABLE,
    INVITATION_TABLE,
    RESPONSE_TABLE,
    SURVEY_TABLE,
)

log = logging.getLogger(__name__)


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
    last: bool = False,
    tail: store_pg.Tail | None = None,
) -> list[Outcome]:
    """Store what can be stored of items in the caller's transaction; one outcome per item.

    ``enforce_window=False`` is for imports and demo data, given after the fact. ``last``: the
    caller's transaction ends with this batch and was opened by it (``store_now`` on the
    writer's link), so on PostgreSQL the COMMIT may go out with the batch's last statements;
    with ``tail`` too, those are recorded there, not sent (see ``store_pg.write``), and the
    outcomes hold only once the caller saw them land.
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

    known: store_pg.Known | None = None
    if live and Bulk.of(conn).pg:
        # One round trip for every read of the batch (see store_pg).
        known = store_pg.read(
            conn,
            submissions=[(items[i].campaign_id, items[i].submission_key) for i in live],
            campaigns=sorted(_group(items, live)) if enforce_window else [],
            marks=mark_keys(_mark_items(items, live)),
        )
        stored = {
            i: rid
            for i in live
            if (rid := known.stored.get((items[i].campaign_id, items[i].submission_key)))
        }
    else:
        stored = _stored_ids(conn, items, live)
    # Retries of what is already stored get the original id, whatever else has changed since.
    for i, rid in stored.items():
        out[i] = Stored(rid, False)
    live = [i for i in live if out[i] is None]

    # The campaign window, as the database has it now.
    groups = _group(items, live) if enforce_window else {}
    if known is not None:
        windows = known.windows
    elif groups:
        windows = {
            cid: (opens, closes)
            for cid, opens, closes in conn.execute(
                select(
                    CAMPAIGN_TABLE.c.id, CAMPAIGN_TABLE.c.opens_at, CAMPAIGN_TABLE.c.closes_at
                ).where(CAMPAIGN_TABLE.c.id.in_(list(groups)))
            )
        }
    else:
        windows = {}
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
        _insert(conn, items, live, out, now, known, last=last, tail=tail)
    for i, j in alias.items():
        first_outcome = out[j]
        # A copy within the batch is a retry of the first: same id, not created again.
        out[i] = (
            Stored(first_outcome.id, False) if isinstance(first_outcome, Stored) else first_outcome
        )
    return out  # type: ignore[return-value]


def _stored_ids(conn: Connection, items: Sequence[Pending], idx: list[int]) -> dict[int, int]:
    """Which of these items are stored already (index -> response id)."""
    found: dict[int, int] = {}
    for cid, group in _group(items, idx).items():
        keys = {items[i].submission_key: i for i in group}
        rows = conn.execute(
            select(RESPONSE_TABLE.c.id, RESPONSE_TABLE.c.submission_key)
            .where(RESPONSE_TABLE.c.campaign_id == cid)
            .where(one_of(RESPONSE_TABLE.c.submission_key, list(keys), conn))
        )
        for rid, key in rows:
            found[keys[key]] = rid
    return found


def _mark_items(
    items: Sequence[Pending], idx: list[int]
) -> list[tuple[int, str | None, str | None]]:
    return [(items[i].campaign_id, items[i].client_hash, items[i].comment_hash) for i in idx]


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
        used = []
        for h in missing:
            if h in known:
                used.append(wanted[h])
                out[wanted[h]] = Conflict("This invitation code has already been used")
            else:
                out[wanted[h]] = Invalid.field(
                    ("body", "invitation_code"), "unknown invitation code"
                )
        # On PostgreSQL the UPDATE may have waited for a racing twin of this very submission
        # (another process) to commit: that is a retry, and it gets the twin's id.
        for i, rid in _stored_ids(conn, items, used).items():
            out[i] = Stored(rid, False)


def _insert(
    conn: Connection,
    items: Sequence[Pending],
    live: list[int],
    out: list[Outcome | None],
    now: datetime,
    known: store_pg.Known | None,
    *,
    last: bool,
    tail: store_pg.Tail | None,
) -> None:
    mark_rows: list[MarkRow] = []
    if known is None:
        marks = apply_marks(conn, now=now, items=_mark_items(items, live))
    else:
        # Counted from what the batch's read found; written back with the responses.
        wanted = mark_keys(_mark_items(items, live))
        for key in wanted:
            wanted[key] = known.marks.get(key)
        marks, mark_rows = advance_marks(wanted, now=now, items=_mark_items(items, live))
    bulk = Bulk.of(conn)
    rows: list[ResponseRow] = []
    hours: dict[datetime, Any] = {}
    for i, extra in zip(live, marks, strict=True):
        it = items[i]
        flags = it.flags | extra if extra else it.flags
        hour = _hour(it.submitted_at or now)
        if hour not in hours:
            hours[hour] = bulk.hour(hour)
        rows.append(
            (
                it.campaign_id,
                it.unit_id,
                it.area_unit_id,
                it.age_band,
                it.sex,
                hours[hour],
                it.comment,
                it.source,
                format_flags(flags),
                is_flagged(flags),
                it.submission_key,
            )
        )
    surveys = sorted({items[i].survey_id for i in live})
    batch = [
        {
            "campaign_id": items[i].campaign_id,
            "unit_id": items[i].unit_id,
            "area_unit_id": items[i].area_unit_id,
            "age_band": items[i].age_band,
            "sex": items[i].sex,
            "submitted_hour": _hour(items[i].submitted_at or now),
            "flagged": row[9],
            "answers": {k: (num, txt) for k, num, txt in items[i].answers},
        }
        for i, row in zip(live, rows, strict=True)
    ]
    if known is not None:
        # Ids drawn by the batch's read: the statistics' statement (and the COMMIT, when
        # nothing follows) go out with the write, in one round trip (see store_pg.write).
        ids = known.ids[: len(live)]
        later = store_pg.Later(conn)
        stats.record_batch(
            later.as_connection(),
            [{**b, "response_id": rid} for b, rid in zip(batch, ids, strict=True)],
        )
        store_pg.write(
            conn,
            rows=list(zip(ids, rows, strict=True)),
            answers=[
                (rid, k, num, txt)
                for rid, i in zip(ids, live, strict=True)
                for k, num, txt in items[i].answers
            ],
            surveys=surveys,
            marks=mark_rows,
            then=later.statements,
            commit=last,
            tail=tail,
        )
    else:
        ids = bulk.insert_responses(conn, rows)
        bulk.insert_answers(
            conn,
            [
                (rid, k, num, txt)
                for rid, i in zip(ids, live, strict=True)
                for k, num, txt in items[i].answers
            ],
        )
        conn.execute(
            update(SURVEY_TABLE)
            .where(SURVEY_TABLE.c.id.in_(surveys))
            .where(SURVEY_TABLE.c.frozen.is_(False))
            .values(frozen=True)
        )
        stats.record_batch(
            conn, [{**b, "response_id": rid} for b, rid in zip(batch, ids, strict=True)]
        )
    for rid, i in zip(ids, live, strict=True):
        out[i] = Stored(rid, True)


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A write transaction on a pooled connection (imports, demo, the writer's slow path).

    On SQLite the write lock is taken first (BEGIN IMMEDIATE): otherwise the first SELECT starts
    a read transaction that fails, rather than waits, when it later needs to write while another
    process writes.
    """
    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        yield conn


Begin = Callable[[], AbstractContextManager[Connection]]


def store_now(
    begin: Begin | Engine, items: Sequence[Pending], *, now: datetime | None = None
) -> list[Outcome]:
    """Store a batch in its own transaction; after a constraint race, store items one by one.

    ``begin`` opens the transaction (an Engine: a pooled write transaction). Busy, raised by the
    writer's short-wait link, is passed on.
    """
    if isinstance(begin, Engine):
        begin = partial(write_transaction, begin)
    try:
        with begin() as conn:
            return store_batch(conn, items, now=now, last=True)
    except DBAPIError as exc:
        log.info("batch of %d hit %s; storing one by one", len(items), type(exc.orig).__name__)
    return [_store_one(begin, it, now) for it in items]


def _store_one(begin: Begin, item: Pending, now: datetime | None) -> Outcome:
    # After a racing twin committed, the next attempt sees it (a replay, or a used code).
    problem = ""
    for _ in range(3):
        try:
            with begin() as conn:
                return store_batch(conn, [item], now=now, last=True)[0]
        except DBAPIError as exc:
            problem = type(exc.orig).__name__
    log.warning("could not store a response: %s", problem)
    return Unavailable("The response could not be stored; please send it again")
