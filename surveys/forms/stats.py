"""Sufficient statistics kept in the same transaction as each stored response.

Contract between the response writer (surveys.forms) and analytics:
every code path that stores responses (the web writer, imports, demo generation) calls
``record_batch(conn, batch)`` inside the transaction that inserts them, after the INSERTs.
``batch`` is a list of dicts:
``{"response_id", "campaign_id", "unit_id", "area_unit_id", "age_band", "sex",
"submitted_hour", "flagged", "answers": {question_key: (value_num, value_text)}}``.
The tables (``StatUnit``, ``StatCell``) are defined with the other survey tables in
``surveys.forms.models``.

What is kept, chosen by measurement (docs/benchmarks.md):

- ``stat_unit``: answers per scale point (``n``) by campaign, unit, question, flagged, value.
  Indicators and rankings by unit and dimension read a few thousand rows of it instead of
  millions of answers. Every response also counts once under the pseudo question
  ``RESPONSE_KEY`` (value 0), which gives respondent counts for the privacy threshold.
- ``stat_cell``: respondents by campaign, unit, respondent cell (area x age band x sex) and
  flagged (``RESPONSE_KEY`` rows only). The raking weights and the group sizes of areas.

Finer breakdowns (area, profile, period, weighted figures) are answered from an in-process
columnar copy of the responses (``analytics.indicators.cube``): counts per scale point keyed by cell and
day were measured at close to one row per answer, costing the writer four times its insert
time for tables nearly as large as the raw data. Missing area/age band/sex are stored as
``0``/``""`` because key columns cannot be NULL. Only answers with a numeric value are counted.
``rebuild`` recomputes everything from the raw responses in SQL.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import Table, delete, text
from sqlalchemy.engine import Connection

from surveys.forms.bulk import pg_json, pg_rows
from surveys.forms.models import StatCell, StatUnit

# Counted once per response, so groups know their number of respondents.
RESPONSE_KEY = "*"


STAT_TABLES: tuple[Table, ...] = (
    StatUnit.__table__,  # type: ignore[attr-defined]
    StatCell.__table__,  # type: ignore[attr-defined]
)


_UPSERT_SQL: dict[tuple[str, str], str] = {}


def _upsert_sql(conn: Connection, table: Table) -> str:
    """The plain-SQL upsert of one table for this dialect, built once.

    PostgreSQL: one statement over one JSON parameter (``bulk.pg_rows``), so a batch is one
    round trip and one plan whatever its size; SQLite: a one-row statement for
    ``executemany``, whose loop is in C.
    """
    name = conn.dialect.name
    sql = _UPSERT_SQL.get((name, table.name))
    if sql is None:
        keys = [c.name for c in table.primary_key.columns]
        cols = ", ".join([*keys, "n"])
        conflict = f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET n = {table.name}.n + excluded.n"
        if name == "postgresql":
            types = [table.c[k].type.compile(conn.dialect) for k in [*keys, "n"]]
            sql = f"INSERT INTO {table.name} ({cols}) {pg_rows(*types)} {conflict}"
        else:
            marks = ", ".join("?" * (len(keys) + 1))
            sql = f"INSERT INTO {table.name} ({cols}) VALUES ({marks}) {conflict}"
        _UPSERT_SQL[(name, table.name)] = sql
    return sql


def _upsert(conn: Connection, table: Table, counts: Counter[tuple[Any, ...]]) -> None:
    rows = _rows(counts)
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(_upsert_sql(conn, table), (pg_json(rows),))
    else:
        conn.exec_driver_sql(_upsert_sql(conn, table), rows)


def record_batch(conn: Connection, batch: list[dict[str, Any]], *, sign: int = 1) -> None:
    """Add a batch of just-inserted responses to the statistics (same transaction).

    ``sign=-1`` takes responses out again (e.g. before changing their ``flagged`` state).
    """
    if not batch:
        return
    unit_c: Counter[tuple[Any, ...]] = Counter()
    cell_c: Counter[tuple[Any, ...]] = Counter()
    for r in batch:
        cid, uid, fl = int(r["campaign_id"]), int(r["unit_id"]), bool(r.get("flagged"))
        area = int(r.get("area_unit_id") or 0)
        age = r.get("age_band") or ""
        sex = r.get("sex") or ""
        items = [(RESPONSE_KEY, 0.0)]
        for key, pair in (r.get("answers") or {}).items():
            num = pair[0] if isinstance(pair, tuple | list) else pair
            if num is not None:
                items.append((key, float(num)))
        cell_c[(cid, uid, area, age, sex, RESPONSE_KEY, fl, 0.0)] += sign
        for key, v in items:
            unit_c[(cid, uid, key, fl, v)] += sign
    unit_t, cell_t = STAT_TABLES
    if conn.dialect.name == "postgresql" and unit_c and cell_c:
        _pg_upsert_both(conn, unit_c, cell_c)
        return
    _upsert(conn, unit_t, unit_c)
    _upsert(conn, cell_t, cell_c)


def _rows(counts: Counter[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    # Sorted, so concurrent writers lock rows in the same order and cannot deadlock.
    return [(*k, n) for k, n in sorted(counts.items()) if n]


def _pg_upsert_both(
    conn: Connection, unit_c: Counter[tuple[Any, ...]], cell_c: Counter[tuple[Any, ...]]
) -> None:
    """Both tables in one statement (a data-modifying CTE): one round trip, not two.

    The writer's batch waits on every round trip; the tables share no rows, so one statement
    changes nothing else (rows are still locked in the same order: stat_unit, then stat_cell).
    """
    unit_t, cell_t = STAT_TABLES
    sql = _UPSERT_SQL.get(("postgresql", "both"))
    if sql is None:
        sql = f"WITH u AS ({_upsert_sql(conn, unit_t)}) {_upsert_sql(conn, cell_t)}"
        _UPSERT_SQL[("postgresql", "both")] = sql
    conn.exec_driver_sql(sql, (pg_json(_rows(unit_c)), pg_json(_rows(cell_c))))


_GRAINS = {
    "stat_unit": ("r.unit_id", "{q}", "r.flagged", "{v}"),
    "stat_cell": (
        "r.unit_id",
        "COALESCE(r.area_unit_id, 0)",
        "COALESCE(r.age_band, '')",
        "COALESCE(r.sex, '')",
        "{q}",
        "r.flagged",
        "{v}",
    ),
}


def rebuild(conn: Connection, *, campaign_id: int | None = None) -> None:
    """Recompute the statistics of one campaign (or all) from the raw responses, in SQL."""
    for table in STAT_TABLES:
        stmt = delete(table)
        if campaign_id is not None:
            stmt = stmt.where(table.c.campaign_id == campaign_id)
        conn.execute(stmt)
    where = "" if campaign_id is None else "WHERE r.campaign_id = :cid"
    where_a = "WHERE a.value_num IS NOT NULL" + (
        "" if campaign_id is None else " AND r.campaign_id = :cid"
    )
    params = {} if campaign_id is None else {"cid": campaign_id}
    for table in STAT_TABLES:
        cols = [c.name for c in table.primary_key.columns] + ["n"]
        grain = list(_GRAINS[table.name])
        resp = [g.format(q=f"'{RESPONSE_KEY}'", v="0.0") for g in grain]
        ans = [g.format(q="a.question_key", v="a.value_num") for g in grain]
        resp_sel = ", ".join(resp)
        ans_sel = ", ".join(ans)
        # Group on the positions of the key columns (both databases accept ordinals).
        positions = ", ".join(str(i + 2) for i in range(len(grain)))
        conn.execute(
            text(
                f"INSERT INTO {table.name} ({', '.join(cols)}) "
                f"SELECT r.campaign_id, {resp_sel}, COUNT(*) FROM survey_response r {where} "
                f"GROUP BY r.campaign_id, {positions}"
            ),
            params,
        )
        if table.name == "stat_cell":
            continue  # respondents only
        conn.execute(
            text(
                f"INSERT INTO {table.name} ({', '.join(cols)}) "
                f"SELECT r.campaign_id, {ans_sel}, COUNT(*) FROM survey_response r "
                f"JOIN response_answer a ON a.response_id = r.id {where_a} "
                f"GROUP BY r.campaign_id, {positions}"
            ),
            params,
        )
