"""Analytics speed: indicator and ranking endpoints against the plain GROUP BY over raw answers.

Usage (from the repository root):

    .venv/bin/python bench/analytics_bench.py --backend sqlite --responses 1000000
    .venv/bin/python bench/analytics_bench.py --backend postgres --responses 1000000

Builds a fresh database (SQLite file in /tmp, or the PostgreSQL database
``minyi_analytics_bench``, created if missing), fills it with synthetic responses through
``record_batch`` (as every writer does), then times, in the same run:

- the plain ``GROUP BY unit, dimension`` over the raw answers (what the statistics replace);
- ``GET /api/v1/campaigns/{id}/indicators`` and ``/ranking`` through the full app (auth, JSON);
- the first flexible view (it loads the in-process columnar copy), then a few of them
  (periods, areas, profile, weighting) once loaded;
- how long a new response takes to show in the indicators;
- what ``record_batch`` adds to storing a batch of responses.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402
from sqlmodel import Session  # noqa: E402

from analytics.indicators import queries  # noqa: E402
from service.config import Settings  # noqa: E402
from service.db import make_engine, upgrade  # noqa: E402
from service.main import create_app  # noqa: E402
from service.progress import progress  # noqa: E402
from tests.synthetic import Synthetic, add_responses, make_campaign  # noqa: E402

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/minyi_analytics_bench"


SQLITE_PATH = Path("/tmp/minyi-analytics-bench.db")


def reuse_campaign(engine: Any) -> Synthetic:
    """The campaign an earlier run generated."""
    with engine.connect() as conn:
        cid = conn.execute(text("SELECT MIN(id) FROM campaign")).scalar_one()
        units = conn.execute(
            text("SELECT id, code FROM unit WHERE code LIKE 'bench-unit-%' ORDER BY id")
        ).all()
        areas = conn.execute(
            text("SELECT id, code FROM unit WHERE code LIKE 'bench-area-%' ORDER BY id")
        ).all()
        count = conn.execute(text("SELECT COUNT(*) FROM survey_response")).scalar_one()
    syn = Synthetic(
        cid,
        [u[0] for u in units],
        [u[1] for u in units],
        [a[0] for a in areas],
        [a[1] for a in areas],
    )
    syn.responses = int(count)
    return syn


def fresh_database(backend: str) -> str:
    if backend == "sqlite":
        path = SQLITE_PATH
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        url = f"sqlite:///{path}"
    else:
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("DROP DATABASE IF EXISTS minyi_analytics_bench"))
            conn.execute(text("CREATE DATABASE minyi_analytics_bench"))
        admin.dispose()
        url = PG_URL
    upgrade(url)
    return url


def timed(fn: Any, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def summary(name: str, ms: list[float]) -> dict[str, Any]:
    ms = sorted(ms)
    p95 = ms[min(len(ms) - 1, int(round(0.95 * (len(ms) - 1))))]
    row = {"name": name, "runs": len(ms), "p50": statistics.median(ms), "p95": p95, "max": ms[-1]}
    print(
        f"{name:<48} runs={len(ms):3d}  p50={row['p50']:8.1f} ms  p95={p95:8.1f} ms  "
        f"max={ms[-1]:8.1f} ms",
        flush=True,
    )
    return row


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    ap.add_argument("--responses", type=int, default=1_000_000)
    ap.add_argument("--units", type=int, default=100)
    ap.add_argument("--areas", type=int, default=40)
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--runs", type=int, default=40)
    ap.add_argument(
        "--reuse", action="store_true", help="Keep the database of an earlier run (no generation)."
    )
    args = ap.parse_args()
    print(
        f"backend={args.backend} responses={args.responses:,} units={args.units} "
        f"areas={args.areas} days={args.days} runs={args.runs}",
        flush=True,
    )

    if args.reuse:
        url = f"sqlite:///{SQLITE_PATH}" if args.backend == "sqlite" else PG_URL
        engine = make_engine(url)
        syn = reuse_campaign(engine)
        gen_s = 0.0
    else:
        url = fresh_database(args.backend)
        engine = make_engine(url)
        syn = make_campaign(engine, units=args.units, areas=args.areas, prefix="bench")
        t0 = time.perf_counter()
        with progress("responses", args.responses) as p:
            add_responses(
                engine, syn, n=args.responses, seed=1, days=args.days, chunk=10000, progress=p.set
            )
        gen_s = time.perf_counter() - t0
    with engine.connect() as conn:
        answers = conn.execute(text("SELECT COUNT(*) FROM response_answer")).scalar_one()
        sizes = {
            t: conn.execute(text(f"SELECT COUNT(*) FROM {t}")).scalar_one()
            for t in ("stat_unit", "stat_cell")
        }
    if args.backend == "postgres":
        with engine.connect() as conn:
            conn.execute(text("ANALYZE"))
            conn.commit()
    print(f"generated in {gen_s:.0f} s; answers={answers:,}; statistics rows={sizes}", flush=True)

    cid = syn.campaign_id
    results = []
    with Session(engine) as s:
        results.append(
            summary(
                "plain GROUP BY unit, dimension (raw answers)",
                timed(lambda: queries.plain_group_by(s, campaign_id=cid), 3),
            )
        )

    settings = Settings(
        environment="test",
        database_url=url,
        secret_key="bench-secret-key-0123456789abcdef0123456789",
        secret_key_file=Path("/tmp/minyi-bench.secret"),
        migrate_on_start=False,
        rate_limit="off",
    )
    app = create_app(settings)
    from tests.factories import headers_for  # noqa: PLC0415

    with TestClient(app) as client, Session(app.state.engine) as s:
        h = headers_for(client, s, "evaluator", "bench-evaluator")
        base = f"/api/v1/campaigns/{cid}"

        def get(path: str, **params: Any) -> Any:
            r = client.get(base + path, params=params, headers=h)
            assert r.status_code == 200, r.text
            return r

        get("/indicators")  # warm-up: imports, caches, connection pool
        get("/ranking")
        results.append(
            summary(
                "GET /indicators?by=unit,dimension", timed(lambda: get("/indicators"), args.runs)
            )
        )
        results.append(summary("GET /ranking", timed(lambda: get("/ranking"), args.runs)))
        t = time.perf_counter()
        get("/indicators", by="area,dimension")
        print(
            f"first flexible view (loads the columnar copy of {syn.responses:,} responses): "
            f"{time.perf_counter() - t:.1f} s",
            flush=True,
        )
        others = [
            ("GET /indicators?by=dimension", "/indicators", {"by": "dimension"}),
            (
                "GET /indicators?by=unit&period=month",
                "/indicators",
                {"by": "unit", "period": "month"},
            ),
            (
                "GET /indicators?by=unit,dimension&period=week",
                "/indicators",
                {"by": "unit,dimension", "period": "week"},
            ),
            ("GET /indicators?by=area,dimension", "/indicators", {"by": "area,dimension"}),
            ("GET /indicators?by=age_band,sex", "/indicators", {"by": "age_band,sex"}),
            (
                "GET /indicators?by=unit,dimension&weighted=true",
                "/indicators",
                {"by": "unit,dimension", "weighted": "true"},
            ),
            ("GET /ranking?weighted=true", "/ranking", {"weighted": "true"}),
            ("GET /trends?period=month", "/trends", {"period": "month"}),
        ]
        for name, path, params in others:
            results.append(
                summary(name, timed(lambda p=path, q=params: get(p, **q), max(5, args.runs // 4)))
            )

        # Freshness: store one response (with its statistics, one transaction), then read.
        before = {r["unit_code"]: r for r in get("/indicators", by="unit").json()["rows"]}
        t = time.perf_counter()
        add_responses(app.state.engine, syn, n=1, seed=99, days=1, flagged_share=0.0)
        after = {r["unit_code"]: r for r in get("/indicators", by="unit").json()["rows"]}
        lag = (time.perf_counter() - t) * 1000
        changed = [c for c in after if after[c]["n"] != before[c]["n"]]
        print(
            f"new response visible in the indicators after {lag:.0f} ms (write + read); "
            f"changed units: {changed}",
            flush=True,
        )

    # What record_batch adds to storing responses: 20 batches of 500 with and without it.
    import tests.synthetic as synmod
    from surveys.forms import stats as stats_mod

    # Into a second campaign, so the measured one keeps matching its statistics.
    other = make_campaign(engine, units=args.units, areas=args.areas, prefix="bench-w")

    def store(n_batches: int) -> float:
        t = time.perf_counter()
        for i in range(n_batches):
            add_responses(engine, other, n=500, seed=1000 + i, chunk=500)
        return (time.perf_counter() - t) / (n_batches * 500) * 1e6

    with_stats = store(10)
    original = synmod.record_batch
    synmod.record_batch = lambda conn, batch, **kw: None  # type: ignore[assignment]
    try:
        without = store(10)
    finally:
        synmod.record_batch = original
    # Time record_batch alone on a representative batch.
    from datetime import UTC, datetime

    batch = [
        {
            "campaign_id": cid,
            "unit_id": syn.unit_ids[i % len(syn.unit_ids)],
            "area_unit_id": syn.area_ids[i % len(syn.area_ids)],
            "age_band": "30-44",
            "sex": "female",
            "submitted_hour": datetime(2026, 3, 1, i % 24, tzinfo=UTC),
            "flagged": False,
            "answers": {
                f"q_{d}": (float(1 + (i + j) % 5), None) for j, d in enumerate(synmod.DIMENSIONS)
            }
            | {"q_nps": (float(i % 11), None)},
        }
        for i in range(500)
    ]
    rb = []
    for _ in range(5):
        with engine.connect() as conn:
            trans = conn.begin()
            t = time.perf_counter()
            stats_mod.record_batch(conn, batch)
            rb.append((time.perf_counter() - t) / len(batch) * 1e6)
            trans.rollback()
    print(
        f"storing a response (synthetic bulk path): {with_stats:.0f} us with statistics, "
        f"{without:.0f} us without; record_batch alone: {statistics.median(rb):.0f} us per "
        f"response (batches of 500)",
        flush=True,
    )
    plain = results[0]["p50"]
    for r in results[1:3]:
        print(
            f"speed-up of {r['name']} over the plain GROUP BY: {plain / r['p95']:.0f}x "
            f"(plain p50 / endpoint p95)",
            flush=True,
        )
    engine.dispose()
    app.state.engine.dispose()
    os.environ.pop("MINYI_DATABASE_URL", None)


if __name__ == "__main__":
    main()
