"""Plain-SQL bulk statements for the response tables, shared by the writer and the demo.

The statements are built once per dialect and run through ``exec_driver_sql``: no ORM and no
per-row Core parameter processing, so storing a row costs little more than the driver's own
work. Datetimes go through the column type's bind processor, so they are stored exactly as
the ORM stores them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection, Dialect

from surveys.forms.models import ABUSE_MARK_TABLE, RESPONSE_TABLE

RESPONSE_COLUMNS = (
    "campaign_id",
    "unit_id",
    "area_unit_id",
    "age_band",
    "sex",
    "submitted_hour",
    "comment",
    "source",
    "flags",
    "flagged",
    "submission_key",
)
MARK_COLUMNS = ("campaign_id", "kind", "key_hash", "window_start_at", "window_count", "total_count")
# Rows per multi-row INSERT (SQLite allows 32,766 parameters per statement).
CHUNK = 500

# (campaign_id, unit_id, area_unit_id, age_band, sex, submitted_hour, comment, source, flags,
#  flagged, submission_key)
ResponseRow = tuple[Any, ...]
# (response_id, question_key, value_num, value_text)
AnswerRow = tuple[int, str, float | None, str | None]


class Bulk:
    """The bulk statements of one dialect."""

    _cache: dict[str, Bulk] = {}

    def __init__(self, dialect: Dialect) -> None:
        # PostgreSQL: one statement per table over one JSON parameter (``pg_rows``), so the
        # SQL text is the same for every batch size (parsed and planned once) and each table
        # costs one round trip. SQLite: executemany and multi-row VALUES, which its C loop
        # runs quickly.
        self.pg = dialect.name == "postgresql"
        ph = "?" if dialect.paramstyle in ("qmark", "numeric") else "%s"
        self._row = "(" + ", ".join([ph] * len(RESPONSE_COLUMNS)) + ")"
        self._insert_head = f"INSERT INTO survey_response ({', '.join(RESPONSE_COLUMNS)}) VALUES "
        self.insert_answer = (
            "INSERT INTO response_answer (response_id, question_key, value_num, value_text) "
            f"VALUES ({ph}, {ph}, {ph}, {ph})"
        )
        self.upsert_mark = (
            f"INSERT INTO abuse_mark ({', '.join(MARK_COLUMNS)}) "
            f"VALUES ({', '.join([ph] * len(MARK_COLUMNS))}) "
            "ON CONFLICT (campaign_id, kind, key_hash) DO UPDATE SET "
            "window_start_at = excluded.window_start_at, "
            "window_count = excluded.window_count, total_count = excluded.total_count"
        )
        self.pg_insert_responses = (
            f"INSERT INTO survey_response ({', '.join(RESPONSE_COLUMNS)}) "
            + pg_rows(
                "int", "int", "int", "text", "text", "timestamptz",
                "text", "text", "text", "bool", "text",
            )
            + " RETURNING id, campaign_id, submission_key"
        )  # fmt: skip
        self.pg_insert_answers = (
            "INSERT INTO response_answer (response_id, question_key, value_num, value_text) "
            + pg_rows("int", "text", "float8", "text")
        )
        self.pg_upsert_marks = (
            f"INSERT INTO abuse_mark ({', '.join(MARK_COLUMNS)}) "
            + pg_rows("int", "text", "text", "timestamptz", "int", "int")
            + " ON CONFLICT (campaign_id, kind, key_hash) DO UPDATE SET "
            "window_start_at = excluded.window_start_at, "
            "window_count = excluded.window_count, total_count = excluded.total_count"
        )
        self._hour = RESPONSE_TABLE.c.submitted_hour.type.bind_processor(dialect)
        self._mark_time = ABUSE_MARK_TABLE.c.window_start_at.type.bind_processor(dialect)

    @classmethod
    def of(cls, conn: Connection) -> Bulk:
        """The statements for this connection's dialect (built on first use)."""
        name = conn.dialect.name
        bulk = cls._cache.get(name)
        if bulk is None:
            bulk = cls._cache[name] = cls(conn.dialect)
        return bulk

    def hour(self, value: datetime) -> Any:
        """A submitted_hour as the driver takes it."""
        return self._hour(value) if self._hour else value

    def insert_responses(self, conn: Connection, rows: Sequence[ResponseRow]) -> list[int]:
        """Insert responses (multi-row, RETURNING); their ids in the order of ``rows``."""
        if not rows:
            return []
        if self.pg:
            got = {
                (c, k): i
                for i, c, k in conn.exec_driver_sql(self.pg_insert_responses, (pg_json(rows),))
            }
            return [got[(row[0], row[10])] for row in rows]
        ids: list[int] = []
        for start in range(0, len(rows), CHUNK):
            chunk = rows[start : start + CHUNK]
            sql = (
                self._insert_head
                + ", ".join([self._row] * len(chunk))
                + " RETURNING id, campaign_id, submission_key"
            )
            params = tuple(v for row in chunk for v in row)
            # RETURNING order is not promised: map back by the unique (campaign, key).
            got = {(c, k): i for i, c, k in conn.exec_driver_sql(sql, params)}
            ids.extend(got[(row[0], row[10])] for row in chunk)
        return ids

    def insert_answers(self, conn: Connection, rows: Sequence[AnswerRow]) -> None:
        """Insert answers (executemany)."""
        if rows and self.pg:
            conn.exec_driver_sql(self.pg_insert_answers, (pg_json(rows),))
        elif rows:
            conn.exec_driver_sql(self.insert_answer, list(rows))

    def upsert_marks(self, conn: Connection, rows: Sequence[tuple[Any, ...]]) -> None:
        """Insert or overwrite abuse marks: (campaign_id, kind, key_hash, start, count, total)."""
        if not rows:
            return
        bound = self.bind_marks(rows)
        if self.pg:
            conn.exec_driver_sql(self.pg_upsert_marks, (pg_json(bound),))
        else:
            conn.exec_driver_sql(self.upsert_mark, bound)

    def bind_marks(self, rows: Sequence[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """Abuse mark rows with their time as the driver takes it."""
        proc = self._mark_time
        return [(c, k, h, proc(t) if proc else t, w, n) for c, k, h, t, w, n in rows]


def pg_rows(*types: str) -> str:
    """``SELECT`` of the rows in one JSON parameter (an array of arrays), typed by position.

    PostgreSQL takes a whole batch in one parameter: ``json.dumps`` writes it in C, and the
    server, on its own core, takes it apart. Arrays per column cost far more on the client
    (psycopg quotes every text element of a list in Python: measured about 30 µs a response).
    """
    cols = ", ".join(f"(e->>{i})::{t}" for i, t in enumerate(types))
    # jsonb: the text is parsed once into the binary form, where ``->>`` picks a position; on
    # ``json`` every ``->>`` parses the element again (62 response rows, 12 columns: 0.56 ms
    # against 0.06 ms of the server's time, while the writer's batch holds the event loop).
    return f"SELECT {cols} FROM jsonb_array_elements(%s::jsonb) AS e"


def pg_json(rows: Sequence[Sequence[Any]]) -> str:
    """Rows as the JSON parameter of ``pg_rows`` (datetimes in ISO 8601 with their offset)."""
    return json.dumps(rows, ensure_ascii=False, separators=(",", ":"), default=_iso)


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot send {type(value).__name__} as JSON")


def one_of(column: Any, values: Sequence[Any], conn: Connection) -> Any:
    """``column IN (values)``; on PostgreSQL ``column = ANY(array)``, whose SQL text is the same
    for any number of values (parsed once, not once per batch size)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy import any_, bindparam
        from sqlalchemy.dialects.postgresql import ARRAY

        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    return column.in_(list(values))
