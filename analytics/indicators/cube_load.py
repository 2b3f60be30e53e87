"""Reading a campaign's responses into the columnar copy, by response id from a watermark."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import text
from sqlmodel import Session

if TYPE_CHECKING:
    from analytics.indicators.cube import _Cube


def _responses_sql(dialect: str) -> str:
    if dialect == "postgresql":
        day = "(CAST((r.submitted_hour AT TIME ZONE 'UTC') AS DATE) - DATE '1970-01-01')"
        campaign = "r.campaign_id"
    else:
        day = "CAST(julianday(date(r.submitted_hour)) - 2440587.5 AS INTEGER)"
        # "+" keeps SQLite walking the primary key from the watermark on, instead of reading
        # the whole campaign through its index and sorting it for every chunk.
        campaign = "+r.campaign_id"
    return (
        "SELECT r.id, r.unit_id, COALESCE(r.area_unit_id, 0), COALESCE(r.age_band, ''), "
        f"COALESCE(r.sex, ''), {day}, r.flagged FROM survey_response r "
        f"WHERE r.id > :after AND {campaign} = :cid ORDER BY r.id LIMIT :lim"
    )


def _answers_sql(dialect: str) -> str:
    p = "%({})s" if dialect == "postgresql" else ":{}"
    return (
        "SELECT response_id, value_num FROM response_answer WHERE response_id > "
        f"{p.format('after')} AND response_id <= {p.format('last')} AND question_key = "
        f"{p.format('key')} AND value_num IS NOT NULL"
    )


def load_new(session: Session, cube: _Cube, campaign_id: int, chunk: int) -> None:
    dialect = session.get_bind().dialect.name
    sql = text(_responses_sql(dialect))
    answers_sql = _answers_sql(dialect)
    # Plain driver cursor for the answers: millions of (id, value) pairs, no row objects.
    cursor = session.connection().connection.cursor()
    try:
        while True:
            after = cube.watermark
            rows = session.execute(sql, {"cid": campaign_id, "after": after, "lim": chunk}).all()
            if not rows:
                return
            last = int(rows[-1][0])
            rid = np.fromiter((r[0] for r in rows), np.int64, len(rows))
            values = np.full((len(cube.keys), len(rows)), np.nan)
            for j, key in enumerate(cube.keys):
                cursor.execute(answers_sql, {"after": after, "last": last, "key": key})
                found = np.asarray(cursor.fetchall(), dtype=float).reshape(-1, 2)
                if len(found):
                    a_rid = found[:, 0].astype(np.int64)
                    pos = np.minimum(np.searchsorted(rid, a_rid), len(rid) - 1)
                    mine = rid[pos] == a_rid  # answers of other campaigns' responses in range
                    values[j, pos[mine]] = found[mine, 1]
            cube.append(rows, values)
            if len(rows) < chunk:
                return
    finally:
        cursor.close()
