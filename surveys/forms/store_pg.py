"""The PostgreSQL statements of a response batch: one read before, one write after.

The writer stores a batch on the event loop, so each round trip to the server holds every
response of the batch (and the loop) for the server's turn: on a loaded machine a round trip
costs milliseconds, not the wire's microseconds. A batch therefore asks what it needs in one
statement (``read``: earlier copies of its submissions, the campaigns' windows, the abuse
counters, and ids for the new responses from their sequence) and writes in one (``write``:
the counters, the responses, their answers and the questionnaires' freeze, as data-modifying
CTEs), sent in one pipeline with the statistics' statement (``stats.record_batch``, the
contract of every writer, recorded by ``Later``) and, on the writer's link, the COMMIT: two
round trips a batch, BEGIN going out with the read. Invitation codes (an UPDATE whose outcome
decides what is inserted) keep their own statements. SQLite runs the plain statements of
``store``: it works in-process, where a statement costs no wait.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from surveys.forms.abuse import Mark, MarkRow, Marks
from surveys.forms.bulk import RESPONSE_COLUMNS, Bulk, ResponseRow, pg_json, pg_rows

# One row per fact, told apart by the first column; unused columns are NULL. Responses and
# counters are looked up key by key: the LIMIT keeps each lookup a subquery (one probe of its
# unique index per key), where a join with the JSON rows was planned as a hash join over the
# whole table, and arrays (``= ANY``) on both key columns were answered from the campaign's
# index, reading every response of the campaign (PostgreSQL 15, measured with EXPLAIN).
_READ = (
    "SELECT 0, r.campaign_id, NULL::text, r.submission_key, r.id::bigint, NULL::bigint, "
    "NULL::timestamptz, NULL::timestamptz "
    "FROM jsonb_array_elements(%s::jsonb) AS e CROSS JOIN LATERAL ("
    "SELECT id, campaign_id, submission_key FROM survey_response "
    "WHERE campaign_id = (e->>0)::int AND submission_key = e->>1 LIMIT 1) AS r "
    "UNION ALL "
    "SELECT 1, c.id, NULL, NULL, NULL, NULL, c.opens_at, c.closes_at "
    "FROM campaign c WHERE c.id = ANY(%s::int[]) "
    "UNION ALL "
    "SELECT 2, m.campaign_id, m.kind, m.key_hash, m.window_count, m.total_count, "
    "m.window_start_at, NULL "
    "FROM jsonb_array_elements(%s::jsonb) AS e CROSS JOIN LATERAL ("
    "SELECT * FROM abuse_mark WHERE campaign_id = (e->>0)::int AND kind = e->>1 "
    "AND key_hash = e->>2 LIMIT 1) AS m "
    "UNION ALL "
    "SELECT 3, NULL, NULL, NULL, nextval((SELECT pg_get_serial_sequence('survey_response', 'id'))), "
    "NULL, NULL, NULL FROM generate_series(1, %s)"
)


@dataclass(slots=True)
class Known:
    """What the database holds for a batch, as one statement read it."""

    # (campaign_id, submission_key) -> response id
    stored: dict[tuple[int, str], int] = field(default_factory=dict)
    # campaign_id -> (opens_at, closes_at)
    windows: dict[int, tuple[datetime, datetime]] = field(default_factory=dict)
    marks: dict[tuple[int, str, str], Mark] = field(default_factory=dict)
    # Ids drawn from the responses' sequence, one per submission read: the write gives them
    # to the new responses, so their answers and statistics need not wait for RETURNING.
    ids: list[int] = field(default_factory=list)


def read(
    conn: Connection,
    *,
    submissions: list[tuple[int, str]],
    campaigns: list[int],
    marks: Marks,
) -> Known:
    """Earlier copies of these submissions, the windows of these campaigns and these counters."""
    known = Known()
    params = (pg_json(submissions), campaigns, pg_json(list(marks)), len(submissions))
    for tag, cid, kind, key, n1, n2, t1, t2 in _first(conn, _READ, params):
        if tag == 3:
            known.ids.append(n1)
        elif tag == 0:
            known.stored[(cid, key)] = n1
        elif tag == 1:
            known.windows[cid] = (_utc(t1), _utc(t2))
        else:
            known.marks[(cid, kind, key)] = Mark(_utc(t1), n1, n2, True)
    return known


def _first(conn: Connection, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    """Run the batch's first statement; on a driver connection left in autocommit (the
    writer's link) with no transaction open, BEGIN is sent in the same round trip.

    psycopg sends its own implicit BEGIN alone and waits for it, one more round trip per
    batch. In pipeline mode BEGIN and the statement go out together and one Sync answers
    both; the transaction then runs as any other (psycopg commits or rolls back by the
    server's transaction state, which the explicit BEGIN set).
    """
    if not _outside_transaction(conn):
        return list(conn.exec_driver_sql(sql, params))
    raw: Any = conn.connection.dbapi_connection
    with _as_dbapi_error(conn, sql), raw.cursor() as begin, raw.cursor() as cur:
        with raw.pipeline():
            begin.execute("BEGIN")
            cur.execute(sql, params)
        return list(cur.fetchall())


@contextmanager
def _as_dbapi_error(conn: Connection, sql: str) -> Iterator[None]:
    """The driver's errors as SQLAlchemy raises them for its own statements (IntegrityError,
    OperationalError...), which callers tell apart: a constraint race is retried item by item,
    a lock wait becomes Busy. Parameters stay out of the message (they hold comments)."""
    import psycopg  # PostgreSQL only

    try:
        yield
    except psycopg.Error as exc:
        raise cast(
            Exception,
            DBAPIError.instance(
                sql, None, exc, psycopg.Error, hide_parameters=True, dialect=conn.dialect
            ),
        ) from exc


@dataclass(slots=True)
class Tail:
    """The last round trip of a batch (its write, the statistics and COMMIT), recorded to be
    sent by the writer; empty when the batch wrote nothing (the caller commits as usual)."""

    statements: list[tuple[str, Any]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.statements)


class Later:
    """Statements recorded instead of run, to go out in the round trip of the batch's write.

    ``as_connection()`` stands in for the connection of a function that only sends statements
    (``stats.record_batch`` on PostgreSQL: ``exec_driver_sql``, the dialect); anything else
    fails loudly rather than run outside the batch.
    """

    def __init__(self, conn: Connection) -> None:
        self.dialect = conn.dialect
        self.statements: list[tuple[str, Any]] = []

    def exec_driver_sql(self, sql: str, params: Any = None) -> None:
        self.statements.append((sql, params))

    def as_connection(self) -> Connection:
        return cast(Connection, self)


def _outside_transaction(conn: Connection) -> bool:
    """The driver is in autocommit and no transaction is open (known locally, no query)."""
    from psycopg import pq  # PostgreSQL only

    raw: Any = conn.connection.dbapi_connection
    return bool(
        raw is not None
        and raw.autocommit
        and raw.pgconn.transaction_status == pq.TransactionStatus.IDLE
    )


def _utc(value: datetime) -> datetime:
    # As the ORM reads these columns (service.db.UTCDateTime): aware, in UTC.
    return value.astimezone(UTC)


_WRITE = (
    "WITH m AS ({marks}), "
    "r AS (INSERT INTO survey_response (id, {columns}) {rows}), "
    "a AS (INSERT INTO response_answer (response_id, question_key, value_num, value_text) "
    "{answers}), "
    "s AS (UPDATE survey SET frozen = true WHERE id = ANY(%s::int[]) AND NOT frozen) "
    "SELECT 1"
)
_write_sql: str | None = None


def write(
    conn: Connection,
    *,
    rows: list[tuple[int, ResponseRow]],
    answers: list[tuple[int, str, float | None, str | None]],
    surveys: list[int],
    marks: list[MarkRow],
    then: Sequence[tuple[str, Any]] = (),
    commit: bool = False,
    tail: Tail | None = None,
) -> None:
    """The counters, the responses (with the ids ``read`` drew), their answers and the
    questionnaires' freeze in one statement.

    Answers are (response_id, question_key, value_num, value_text). Counter rows come sorted,
    so concurrent writers lock them in the same order.

    ``then`` (the statistics' statement) and, with ``commit``, the COMMIT of the transaction
    the batch's read opened (the writer's link: see ``_first``) go out in the same psycopg
    pipeline: one round trip where there were three, each holding the event loop. The server
    runs them in order and skips what follows an error (the transaction then rolls back as
    before); this returns only after the COMMIT answered, so a 201 still follows it.

    With ``tail`` (the writer's, and only with ``commit``) nothing is sent: the statements
    and the COMMIT are recorded there for the writer to send without waiting on the server's
    turn (``surveys.forms.inflight``); the batch then counts as stored only once they landed.
    """
    global _write_sql
    if _outside_transaction(conn):
        # The batch's read did not open the transaction (see _first).
        raise RuntimeError("a response batch must be written inside its transaction")
    bulk = Bulk.of(conn)
    if _write_sql is None:
        _write_sql = _WRITE.format(
            marks=bulk.pg_upsert_marks,
            columns=", ".join(RESPONSE_COLUMNS),
            rows=pg_rows(
                "int", "int", "int", "int", "text", "text", "timestamptz",
                "text", "text", "text", "bool", "text",
            ),
            answers=pg_rows("int", "text", "float8", "text"),
        )  # fmt: skip
    params: tuple[Any, ...] = (
        pg_json(bulk.bind_marks(marks)),
        pg_json([(rid, *row) for rid, row in rows]),
        pg_json(answers),
        surveys,
    )
    raw: Any = conn.connection.dbapi_connection
    # Only a transaction this batch opened with its own BEGIN may be committed here.
    commit = commit and bool(raw.autocommit)
    if tail is not None and commit:
        tail.statements = [(_write_sql, params), *then, ("COMMIT", None)]
        return
    with _as_dbapi_error(conn, _write_sql):
        cursors = [raw.cursor() for _ in range(1 + len(then) + commit)]
        try:
            with raw.pipeline():
                cursors[0].execute(_write_sql, params)
                for cur, (sql, args) in zip(cursors[1:], then, strict=False):
                    cur.execute(sql, args)
                if commit:
                    cursors[-1].execute("COMMIT")
        finally:
            for cur in cursors:
                cur.close()
