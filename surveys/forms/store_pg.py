"""The PostgreSQL statements of a response batch: one read before, one write after.

The writer stores a batch on the event loop, so each round trip to the server holds every
response of the batch (and the loop) for the server's turn: on a loaded machine a round trip
costs milliseconds, not the wire's microseconds. A batch therefore asks what it needs in one
statement (``read``: earlier copies of its submissions, the campaigns' windows, the abuse
counters) and writes in one (``write``: the counters, the responses, their answers and the
questionnaires' freeze, as data-modifying CTEs). Invitation codes (an UPDATE whose outcome
decides what is inserted) and the statistics (``stats.record_batch``, the contract of every
writer) keep their own statements. SQLite runs the plain statements of ``store``: it works
in-process, where a statement costs no wait.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Connection

from surveys.forms.abuse import Mark, MarkRow, Marks
from surveys.forms.bulk import Bulk, ResponseRow, pg_json

# One row per fact, told apart by the first column; unused columns are NULL. Responses and
# counters are looked up key by key: the LIMIT keeps each lookup a subquery (one probe of its
# unique index per key), where a join with the JSON rows was planned as a hash join over the
# whole table, and arrays (``= ANY``) on both key columns were answered from the campaign's
# index, reading every response of the campaign (PostgreSQL 15, measured with EXPLAIN).
_READ = (
    "SELECT 0, r.campaign_id, NULL::text, r.submission_key, r.id::bigint, NULL::bigint, "
    "NULL::timestamptz, NULL::timestamptz "
    "FROM json_array_elements(%s::json) AS e CROSS JOIN LATERAL ("
    "SELECT id, campaign_id, submission_key FROM survey_response "
    "WHERE campaign_id = (e->>0)::int AND submission_key = e->>1 LIMIT 1) AS r "
    "UNION ALL "
    "SELECT 1, c.id, NULL, NULL, NULL, NULL, c.opens_at, c.closes_at "
    "FROM campaign c WHERE c.id = ANY(%s::int[]) "
    "UNION ALL "
    "SELECT 2, m.campaign_id, m.kind, m.key_hash, m.window_count, m.total_count, "
    "m.window_start_at, NULL "
    "FROM json_array_elements(%s::json) AS e CROSS JOIN LATERAL ("
    "SELECT * FROM abuse_mark WHERE campaign_id = (e->>0)::int AND kind = e->>1 "
    "AND key_hash = e->>2 LIMIT 1) AS m"
)


@dataclass(slots=True)
class Known:
    """What the database holds for a batch, as one statement read it."""

    # (campaign_id, submission_key) -> response id
    stored: dict[tuple[int, str], int] = field(default_factory=dict)
    # campaign_id -> (opens_at, closes_at)
    windows: dict[int, tuple[datetime, datetime]] = field(default_factory=dict)
    marks: dict[tuple[int, str, str], Mark] = field(default_factory=dict)


def read(
    conn: Connection,
    *,
    submissions: list[tuple[int, str]],
    campaigns: list[int],
    marks: Marks,
) -> Known:
    """Earlier copies of these submissions, the windows of these campaigns and these counters."""
    known = Known()
    params = (pg_json(submissions), campaigns, pg_json(list(marks)))
    for tag, cid, kind, key, n1, n2, t1, t2 in _first(conn, _READ, params):
        if tag == 0:
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
    with raw.cursor() as begin, raw.cursor() as cur:
        with raw.pipeline():
            begin.execute("BEGIN")
            cur.execute(sql, params)
        return list(cur.fetchall())


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


_WRITE: str | None = None


def write(
    conn: Connection,
    *,
    rows: list[ResponseRow],
    answers: list[tuple[int, str, str, float | None, str | None]],
    surveys: list[int],
    marks: list[MarkRow],
) -> list[int]:
    """The counters, the responses, their answers and the questionnaires' freeze in one
    statement; the response ids in the order of ``rows``.

    Answers are (campaign_id, submission_key, question_key, value_num, value_text) and find
    their response by (campaign, submission key), unique. Counter rows come sorted, so
    concurrent writers lock them in the same order.
    """
    global _WRITE
    if _outside_transaction(conn):
        # The batch's read did not open the transaction (see _first).
        raise RuntimeError("a response batch must be written inside its transaction")
    bulk = Bulk.of(conn)
    if _WRITE is None:
        _WRITE = (
            f"WITH m AS ({bulk.pg_upsert_marks}), "
            f"r AS ({bulk.pg_insert_responses}), "
            "a AS (INSERT INTO response_answer (response_id, question_key, value_num, value_text) "
            "SELECT r.id, (e->>2)::text, (e->>3)::float8, (e->>4)::text "
            "FROM json_array_elements(%s::json) AS e "
            "JOIN r ON r.campaign_id = (e->>0)::int AND r.submission_key = e->>1), "
            "s AS (UPDATE survey SET frozen = true WHERE id = ANY(%s::int[]) AND NOT frozen) "
            "SELECT id, campaign_id, submission_key FROM r"
        )
    params: tuple[Any, ...] = (
        pg_json(bulk.bind_marks(marks)),
        pg_json(rows),
        pg_json(answers),
        surveys,
    )
    got = {(c, k): i for i, c, k in conn.exec_driver_sql(_WRITE, params)}
    return [got[(row[0], row[10])] for row in rows]
