"""The load of ``scale_10m.py``: ten million synthetic responses into PostgreSQL by COPY.

The campaign of ``analytics_store.py`` and responses drawn from the model of
``tests.synthetic.add_responses``, vectorised; the secondary indexes and foreign keys are
dropped for the load and rebuilt after it, the statistics tables computed from the raw rows by
the product's own ``surveys.forms.stats.rebuild``, then VACUUM ANALYZE.
"""

from __future__ import annotations

import io
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from service.db import make_engine, upgrade  # noqa: E402
from surveys.forms import stats  # noqa: E402
from tests.synthetic import (  # noqa: E402
    AGE_BANDS,
    DIMENSIONS,
    NEGATIVE,
    POSITIVE,
    SEXES,
    Synthetic,
    make_campaign,
)

RESPONSE_COLS = (
    "id, campaign_id, unit_id, area_unit_id, age_band, sex, submitted_hour, comment, source, "
    "flags, flagged, submission_key"
)
# Dropped for the load and rebuilt after it (one sort each instead of 10M index inserts).
DEFERRED = [
    ("response_answer", "fk_response_answer_response_id_survey_response"),
    ("response_answer", "pk_response_answer"),
    ("survey_response", "uq_survey_response_campaign_id_submission_key"),
    ("survey_response", "fk_survey_response_area_unit_id_unit"),
    ("survey_response", "fk_survey_response_campaign_id_campaign"),
    ("survey_response", "fk_survey_response_unit_id_unit"),
]


def admin_url(url: str) -> str:
    return make_url(url).set(database="postgres").render_as_string(hide_password=False)


def recreate(url: str) -> None:
    name = make_url(url).database
    admin = create_engine(admin_url(url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()


def drop(url: str) -> None:
    admin = create_engine(admin_url(url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    admin.dispose()


def frames(
    syn: Synthetic, start_id: int, m: int, rng: np.random.Generator, quality: np.ndarray
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One chunk of responses and answers, drawn as ``add_responses`` draws them."""
    n_units = len(syn.unit_ids)
    u = rng.integers(0, n_units, size=m)
    area = rng.integers(0, len(syn.area_ids), size=m)
    age = rng.choice(len(AGE_BANDS), size=m, p=[0.1, 0.25, 0.35, 0.3])
    sex = rng.choice(2, size=m, p=[0.6, 0.4])
    hours = rng.integers(0, 90 * 24, size=m)
    flagged = rng.random(m) < 0.03
    person = rng.normal(0, 0.6, size=m) + 0.15 * age
    latent = [quality[u] + person + rng.normal(0, 0.8, size=m) + 0.1 * k for k in range(4)]
    nps_lat = quality[u] + person + rng.normal(0, 1.0, size=m)
    skip = rng.random((m, len(DIMENSIONS))) < 0.05
    has_comment = rng.random(m) < 0.3
    pick = rng.integers(0, len(POSITIVE), size=m)
    ids = np.arange(start_id, start_id + m)
    pools = np.array(NEGATIVE + POSITIVE, dtype=object)
    comment = pools[pick + len(NEGATIVE) * (latent[0] > 0)]
    comment[~has_comment] = None
    at = np.datetime64("2026-01-01T00", "h") + hours.astype("timedelta64[h]")
    resp = pd.DataFrame(
        {
            "id": ids,
            "campaign_id": syn.campaign_id,
            "unit_id": np.asarray(syn.unit_ids)[u],
            "area_unit_id": np.asarray(syn.area_ids)[area],
            "age_band": np.asarray(AGE_BANDS, dtype=object)[age],
            "sex": np.asarray(SEXES, dtype=object)[sex],
            "submitted_hour": np.char.add(np.datetime_as_string(at, unit="s"), "+00"),
            "comment": comment,
            "source": "import",
            "flags": np.where(flagged, "burst", ""),
            "flagged": np.where(flagged, "t", "f"),
            "submission_key": np.char.add(f"syn-{syn.campaign_id}-", ids.astype(str)),
        }
    )
    parts = []
    for k, dim in enumerate(DIMENSIONS):
        ok = ~skip[:, k]
        v = np.clip(np.round(3.6 + latent[k][ok]), 1, 5)
        parts.append(pd.DataFrame({"r": ids[ok], "k": f"q_{dim}", "v": v, "t": None}))
    nps = np.clip(np.round(7.2 + 1.8 * nps_lat), 0, 10)
    parts.append(pd.DataFrame({"r": ids, "k": "q_nps", "v": nps, "t": None}))
    parts.append(
        pd.DataFrame(
            {"r": ids[has_comment], "k": "q_comment", "v": np.nan, "t": comment[has_comment]}
        )
    )
    return resp, pd.concat(parts, ignore_index=True)


def copy(cur: Any, sql: str, frame: pd.DataFrame) -> None:
    buf = io.StringIO()
    frame.to_csv(buf, header=False, index=False)
    with cur.copy(sql) as cp:
        cp.write(buf.getvalue())


def generate(url: str, n: int, chunk: int) -> tuple[int, dict[str, float]]:
    """The campaign and n responses by COPY; the statistics from them in SQL; ANALYZE."""
    recreate(url)
    upgrade(url)
    engine = make_engine(url)
    syn = make_campaign(engine, units=100, areas=40, prefix="bench")
    times: dict[str, float] = {}
    t0 = time.perf_counter()
    with engine.begin() as conn:
        for table, name in DEFERRED:
            conn.execute(text(f"ALTER TABLE {table} DROP CONSTRAINT {name}"))
        conn.execute(text("DROP INDEX ix_survey_response_campaign_unit"))
    rng = np.random.default_rng(1)
    quality = np.linspace(-0.8, 0.8, len(syn.unit_ids))
    rng.shuffle(quality)
    raw = engine.raw_connection()
    done, answers = 0, 0
    try:
        cur = raw.cursor()
        while done < n:
            m = min(chunk, n - done)
            resp, ans = frames(syn, done + 1, m, rng, quality)
            copy(
                cur,
                f"COPY survey_response ({RESPONSE_COLS}) FROM STDIN "
                "WITH (FORMAT csv, FORCE_NOT_NULL (flags))",
                resp,
            )
            copy(
                cur,
                "COPY response_answer (response_id, question_key, value_num, value_text) "
                "FROM STDIN WITH (FORMAT csv)",
                ans,
            )
            raw.commit()
            done += m
            answers += len(ans)
            el = time.perf_counter() - t0
            print(
                f"  {done:>11,} responses, {answers:>11,} answers, {el:6.0f} s, "
                f"ETA {el / done * (n - done):5.0f} s, load {os.getloadavg()[0]:.1f}",
                flush=True,
            )
    finally:
        raw.close()
    times["COPY responses and answers, s"] = time.perf_counter() - t0
    t = time.perf_counter()
    upgrade_sql = [
        "ALTER TABLE response_answer ADD CONSTRAINT pk_response_answer "
        "PRIMARY KEY (response_id, question_key)",
        "ALTER TABLE survey_response ADD CONSTRAINT "
        "uq_survey_response_campaign_id_submission_key UNIQUE (campaign_id, submission_key)",
        "CREATE INDEX ix_survey_response_campaign_unit ON survey_response (campaign_id, unit_id)",
        "ALTER TABLE response_answer ADD CONSTRAINT "
        "fk_response_answer_response_id_survey_response FOREIGN KEY (response_id) "
        "REFERENCES survey_response (id) ON DELETE CASCADE",
        "ALTER TABLE survey_response ADD CONSTRAINT fk_survey_response_area_unit_id_unit "
        "FOREIGN KEY (area_unit_id) REFERENCES unit (id)",
        "ALTER TABLE survey_response ADD CONSTRAINT fk_survey_response_campaign_id_campaign "
        "FOREIGN KEY (campaign_id) REFERENCES campaign (id)",
        "ALTER TABLE survey_response ADD CONSTRAINT fk_survey_response_unit_id_unit "
        "FOREIGN KEY (unit_id) REFERENCES unit (id)",
        "SELECT setval(pg_get_serial_sequence('survey_response', 'id'), "
        "(SELECT MAX(id) FROM survey_response))",
    ]
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL maintenance_work_mem = '1GB'"))
        for sql in upgrade_sql:
            conn.execute(text(sql))
            print(f"  {time.perf_counter() - t:6.0f} s: {sql[:70]}", flush=True)
    times["indexes and foreign keys rebuilt, s"] = time.perf_counter() - t
    t = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL work_mem = '256MB'"))
        stats.rebuild(conn, campaign_id=syn.campaign_id)
    times["statistics tables computed in SQL, s"] = time.perf_counter() - t
    t = time.perf_counter()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    times["VACUUM ANALYZE, s"] = time.perf_counter() - t
    engine.dispose()
    return syn.campaign_id, times
