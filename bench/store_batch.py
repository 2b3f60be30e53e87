"""One group-commit batch in-process: wall time, client CPU and each statement's time.

    .venv/bin/python bench/store_batch.py                       # PostgreSQL (minyi_bench, wiped)
    .venv/bin/python bench/store_batch.py --url sqlite:////tmp/store-batch.db --batch 62

Prepares the same campaign as ``bench/ingest.py``, stores 30 warm-up batches through the
writer's own link (``store_now``), ANALYZEs on PostgreSQL, then times 60 batches and prints
the medians, the statements of the last batch and, on PostgreSQL, the round trips of one more
batch (counted in libpq's protocol trace: one ReadyForQuery per exchange, BEGIN and COMMIT
included; the writer's link sends BEGIN with the batch's read, then the write, the
statistics' upsert and COMMIT, through psycopg's pipeline, past SQLAlchemy, so those
statements are counted there but not listed: two round trips). Each item has
its own client hash, so every response also writes an abuse mark (the HTTP benchmark's
clients all share one address).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from ingest import DEFAULT_PG, analyze, ensure_pg_database, prepare  # noqa: E402

DIMS = ["attitude", "efficiency", "transparency", "integrity", "results"]


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--url", default=DEFAULT_PG)
    ap.add_argument("--batch", type=int, default=62)
    ap.add_argument("--runs", type=int, default=60)
    args = ap.parse_args()

    from sqlalchemy import event, select

    from service.db import make_engine
    from surveys.forms.models import CAMPAIGN_TABLE
    from surveys.forms.store import Pending, store_now
    from surveys.forms.writer import _Link
    from surveys.units.models import Unit

    pg = args.url.startswith("postgresql")
    if pg:
        ensure_pg_database(args.url)
    else:
        Path(args.url.removeprefix("sqlite:///")).unlink(missing_ok=True)
    cid = prepare(args.url)
    engine = make_engine(args.url)
    with engine.connect() as conn:
        units = {code: uid for uid, code in conn.execute(select(Unit.id, Unit.code))}
        sid = conn.execute(
            select(CAMPAIGN_TABLE.c.survey_id).where(CAMPAIGN_TABLE.c.id == cid)
        ).scalar_one()

    statements: list[tuple[str, float]] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _before(conn: Any, *_: Any) -> None:
        conn.info["t0"] = time.perf_counter()

    @event.listens_for(engine, "after_cursor_execute")
    def _after(conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        statements.append((sql.split("\n")[0][:72], time.perf_counter() - conn.info["t0"]))

    rng = random.Random(7)

    def item() -> Pending:
        return Pending(
            campaign_id=cid,
            survey_id=sid,
            unit_id=units[rng.choice(["dept-civil", "dept-hrss", "win-social"])],
            answers=[(d, float(rng.randint(1, 5)), None) for d in DIMS],
            submission_key=uuid.uuid4().hex,
            area_unit_id=units["comm-a1"],
            age_band="30-39",
            sex="female",
            comment=rng.choice([None, f"办事效率很高，服务态度好 {rng.random()}"]),
            client_hash=uuid.uuid4().hex[:16],
        )

    link = _Link(engine, 100)
    for _ in range(30):
        store_now(link.transaction, [item() for _ in range(args.batch)])
    if pg:
        analyze(args.url)
    wall: list[float] = []
    cpu: list[float] = []
    for _ in range(args.runs):
        statements.clear()
        items = [item() for _ in range(args.batch)]
        t0, c0 = time.perf_counter(), time.process_time()
        store_now(link.transaction, items)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    last = list(statements)
    trips = round_trips(
        link, lambda: store_now(link.transaction, [item() for _ in range(args.batch)])
    )
    link.close()
    engine.dispose()
    print(
        f"{engine.dialect.name}, batches of {args.batch} (median of {args.runs}): "
        f"wall {statistics.median(wall) * 1000:.2f} ms, client CPU "
        f"{statistics.median(cpu) * 1000:.2f} ms; statements of the last batch:"
    )
    for sql, seconds in last:
        print(f"  {seconds * 1000:6.2f} ms  {sql}")
    if trips is not None:
        print(f"round trips of one more batch: {trips}")


def round_trips(link: Any, work: Any) -> int | None:
    """Exchanges with the server while ``work`` runs on the link's connection (PostgreSQL)."""
    conn = link._conn
    if conn is None or conn.dialect.name != "postgresql":
        work()
        return None
    from psycopg import pq

    pgconn = conn.connection.dbapi_connection.pgconn
    with tempfile.TemporaryFile("w+") as f:
        pgconn.trace(f.fileno())
        pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
        try:
            work()
        finally:
            pgconn.untrace()
        f.seek(0)
        return sum(1 for line in f if line.startswith("B") and "ReadyForQuery" in line)


if __name__ == "__main__":
    main()
