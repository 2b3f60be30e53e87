"""Where the flexible views count from: the in-process copy, its mapped files, DuckDB, rollups.

Usage (from the repository root):

    .venv/bin/python bench/analytics_store.py --responses 1000000 [--reuse]
        [--postgres postgresql+psycopg://postgres@127.0.0.1:5432/DB]

Builds (or, with ``--reuse``, keeps) the synthetic SQLite database of ``analytics_bench.py``'s
shape (100 units, 40 areas, 90 days, through ``tests.synthetic``), then, in one run and
alternating the variants round by round, times the same counts (answers per scale point for
a handful of typical groupings, the shape ``cube.counts`` returns):

- ``memory``: today's copy in each process (loaded from the database, then bincounts);
- ``files``: the same columns written once as a generation (``cube_files``) and mapped by a
  process that starts (first view after a start, then warm views);
- ``duckdb``: the columns in a DuckDB file (build, append a batch of 500, open read-only and
  first query, warm GROUP BYs);
- ``rollup``: counts pre-aggregated by (unit, area, age band, sex, day, flagged, question,
  value) in SQLite and PostgreSQL (after ANALYZE), views as GROUP BY over them.

Prints the load average, each variant's build / first / p50 / p95 and the process RSS.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402
from sqlmodel import Session  # noqa: E402

from analytics.indicators import cube, cube_files, queries  # noqa: E402
from service.db import make_engine, upgrade  # noqa: E402
from surveys.forms.models import Campaign  # noqa: E402
from tests.synthetic import add_responses, make_campaign  # noqa: E402

DB = Path("/tmp/minyi-store-bench.db")
GROUPINGS: list[tuple[str, list[str], str | None]] = [
    ("unit", ["unit"], None),
    ("area", ["area"], None),
    ("age_band,sex", ["age_band", "sex"], None),
    ("unit,month", ["unit", "period"], "month"),
    ("unit,week", ["unit", "period"], "week"),
]


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def ms(fn: Any) -> float:
    t = time.perf_counter()
    fn()
    return (time.perf_counter() - t) * 1000


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def build(db: Path, n: int, reuse: bool) -> tuple[str, int]:
    url = f"sqlite:///{db}"
    if not reuse:
        for suffix in ("", "-wal", "-shm"):
            Path(str(db) + suffix).unlink(missing_ok=True)
        upgrade(url)
        engine = make_engine(url)
        syn = make_campaign(engine, units=100, areas=40, prefix="bench")
        add_responses(engine, syn, n=n, seed=1, days=90, chunk=10000)
        engine.dispose()
    engine = make_engine(url)
    with engine.connect() as conn:
        cid = int(conn.execute(text("SELECT MIN(id) FROM campaign")).scalar_one())
    engine.dispose()
    return url, cid


def cube_counts(s: Session, cid: int, fields: list[str], period: str | None) -> Any:
    return cube.counts(
        s,
        campaign_id=cid,
        fields=fields,
        period=period,
        include_flagged=False,
        filters=queries.Filters(),
        weights=None,
    )


def duck_sql(keys: list[str], fields: list[str], period: str | None) -> str:
    cols = {
        "unit": "unit",
        "area": "area",
        "age_band": "age",
        "sex": "sex",
        "period": {
            "month": "date_trunc('month', DATE '1970-01-01' + day)",
            "week": "date_trunc('week', DATE '1970-01-01' + day)",
            None: "day",
        }[period],
    }
    g = ", ".join(cols[f] for f in fields)
    parts = [f"SELECT {g}, -1 AS q, 0 AS v, count(*) AS n FROM r WHERE NOT flagged GROUP BY ALL"]
    for i in range(len(keys)):
        parts.append(
            f"SELECT {g}, {i} AS q, a{i} AS v, count(*) AS n FROM r "
            f"WHERE NOT flagged AND a{i} >= 0 GROUP BY ALL"
        )
    return " UNION ALL ".join(parts)


def rollup_sql(fields: list[str], period: str | None, dialect: str) -> str:
    per = {"month": "month", "week": "week", None: "day"}[period]
    cols = {"unit": "unit", "area": "area", "age_band": "age", "sex": "sex", "period": per}
    g = ", ".join(cols[f] for f in fields)
    flag = "NOT flagged" if dialect == "postgresql" else "flagged = 0"
    return f"SELECT {g}, q, v, SUM(n) FROM bench_rollup WHERE {flag} GROUP BY {g}, q, v"


def rollup_rows(c: dict[str, np.ndarray], answers: list[np.ndarray]) -> np.ndarray:
    """(unit, area, age, sex, day, flagged, q, v, n) rows, one per distinct key (counted on
    one mixed-radix integer key, which sorts far faster than rows)."""
    day0 = int(c["day"].min()) if len(c["day"]) else 0
    parts = [
        c["unit"].astype(np.int64),
        c["area"].astype(np.int64),
        c["age"].astype(np.int64),
        c["sex"].astype(np.int64),
        c["day"].astype(np.int64) - day0,
        c["flagged"].astype(np.int64),
    ]
    radix = [int(x.max()) + 1 if len(x) else 1 for x in parts] + [len(answers) + 1, 64]
    cell = np.zeros(len(c["rid"]), np.int64)
    for x, r in zip(parts, radix, strict=False):
        cell = cell * r + x
    keys = []
    for q, a in enumerate([np.zeros(len(cell), np.int64), *answers]):
        ok = a >= 0
        keys.append((cell[ok] * radix[6] + q) * radix[7] + a[ok].astype(np.int64))
    uniq, n = np.unique(np.concatenate(keys), return_counts=True)
    cols = []
    rest = uniq
    for r in reversed(radix):
        rest, x = np.divmod(rest, r)
        cols.append(x)
    cols.reverse()
    cols[4] = cols[4] + day0
    cols[6] = cols[6] - 1  # question -1: the response itself
    return np.column_stack([*cols, n])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--responses", type=int, default=1_000_000)
    ap.add_argument("--reuse", action="store_true")
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--rollup-rounds", type=int, default=2, help="they take seconds a view")
    ap.add_argument("--postgres", default="")
    ap.add_argument("--db", type=Path, default=DB)
    args = ap.parse_args()
    url, cid = build(args.db, args.responses, args.reuse)
    print(f"load average {os.getloadavg()} on {os.cpu_count()} cores", flush=True)
    engine = make_engine(url)
    work = Path(tempfile.mkdtemp(prefix="minyi-store-bench-"))
    os.environ["MINYI_ANALYTICS_DIR"] = str(work / "columns")
    root_fn = cube_files.root
    res: dict[str, list[float]] = {}

    def add(name: str, value: float) -> None:
        res.setdefault(name, []).append(value)

    with Session(engine) as s:
        # memory: the copy as today (no files), load time and RSS it adds.
        cube_files.root = lambda url: None  # type: ignore[assignment]
        r0 = rss_mb()
        add("memory: first view (load + count)", ms(lambda: cube_counts(s, cid, ["unit"], None)))
        add("memory: RSS added, MB", rss_mb() - r0)
        mem = cube.refresh(s, campaign_id=cid)
        c, ans = mem.columns()
        keys = list(mem.keys)
        n_rows = len(c["rid"])
        # files: write a generation from the loaded copy, then start from it.
        cube_files.root = root_fn  # type: ignore[assignment]
        cube.forget()
        gc.collect()
        t = time.perf_counter()
        cube_files.write(
            cube_files.campaign_dir(
                work / "columns",
                engine.url,
                cid,
                str(s.get(Campaign, cid).created_at),  # type: ignore[union-attr]
            ),
            watermark=mem.watermark,
            keys=keys,
            tables={k: list(v.values) for k, v in mem.tables.items()},
            cols=c,
            answers=ans,
        )
        add("files: write a generation, ms", (time.perf_counter() - t) * 1000)
        del mem
        # duckdb: the columns as one table in a file.
        import duckdb  # noqa: PLC0415

        dpath = work / "r.duckdb"
        frame = {k: v for k, v in c.items()} | {f"a{i}": ans[k] for i, k in enumerate(keys)}
        t = time.perf_counter()
        con = duckdb.connect(str(dpath))
        con.register("src", frame)
        con.execute("CREATE TABLE r AS SELECT * FROM src")
        con.close()
        add("duckdb: build file, ms", (time.perf_counter() - t) * 1000)
        con = duckdb.connect(str(dpath))
        batch = {k: v[:500].copy() for k, v in frame.items()}
        con.register("b", batch)
        add(
            "duckdb: append a batch of 500, ms",
            ms(lambda: con.execute("INSERT INTO r SELECT * FROM b")),
        )
        con.execute("DELETE FROM r WHERE rowid >= ?", [n_rows])
        con.close()
        # rollups: the pre-aggregated table on SQLite (its own file) and PostgreSQL.
        answers_list = [ans[k] for k in keys]
        t = time.perf_counter()
        rows = rollup_rows(c, answers_list)
        months = c["day"].astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
        del c, ans, frame, batch
        gc.collect()
        day = rows[:, 4]
        month = day.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
        week = day - (day + 3) % 7
        table = np.column_stack([rows[:, :4], day, month, week, rows[:, 5:]]).tolist()
        del months
        add("rollup: aggregate in numpy, ms", (time.perf_counter() - t) * 1000)
        print(f"rollup rows {len(table):,} for {n_rows:,} responses", flush=True)
        cols_sql = "unit, area, age, sex, day, month, week, flagged, q, v, n"
        rollups: dict[str, Any] = {}
        lite = create_engine(f"sqlite:///{work / 'rollup.db'}")
        pg = create_engine(args.postgres) if args.postgres else None
        for name, eng in (("sqlite", lite), ("postgres", pg)):
            if eng is None:
                continue
            with eng.begin() as conn:
                conn.execute(text("DROP TABLE IF EXISTS bench_rollup"))
                flag = "BOOLEAN" if name == "postgres" else "INTEGER"
                conn.execute(
                    text(
                        "CREATE TABLE bench_rollup (unit INT, area INT, age INT, sex INT, "
                        f"day INT, month INT, week INT, flagged {flag}, q INT, v INT, n INT)"
                    )
                )
                t = time.perf_counter()
                if name == "postgres":
                    raw = conn.connection.dbapi_connection
                    with raw.cursor().copy(f"COPY bench_rollup ({cols_sql}) FROM STDIN") as cp:
                        for row in table:
                            row[7] = bool(row[7])
                            cp.write_row(row)
                    conn.execute(text("ANALYZE bench_rollup"))
                else:
                    conn.connection.dbapi_connection.executemany(
                        f"INSERT INTO bench_rollup VALUES ({','.join('?' * 11)})", table
                    )
                    conn.execute(text("ANALYZE"))
                add(f"rollup {name}: load, ms", (time.perf_counter() - t) * 1000)
            rollups[name] = eng
        del table, rows
        gc.collect()

        for rnd in range(args.rounds):
            # files: a fresh start (nothing in memory) answering its first view, then warm.
            cube.forget()
            gc.collect()
            r0 = rss_mb()
            add("files: first view after a start", ms(lambda: cube_counts(s, cid, ["unit"], None)))
            for label, fields, period in GROUPINGS:
                add(f"files: {label}", ms(lambda f=fields, p=period: cube_counts(s, cid, f, p)))
            add("files: RSS added, MB", rss_mb() - r0)
            # memory: the loaded copy (warm), as today.
            cube_files.root = lambda url: None  # type: ignore[assignment]
            if rnd == 0:
                cube.forget()
                gc.collect()
                add(
                    "memory: first view (load + count)",
                    ms(lambda: cube_counts(s, cid, ["unit"], None)),
                )
            for label, fields, period in GROUPINGS:
                add(f"memory: {label}", ms(lambda f=fields, p=period: cube_counts(s, cid, f, p)))
            cube_files.root = root_fn  # type: ignore[assignment]
            cube.forget()
            # duckdb: open read-only, first query, then warm.
            t = time.perf_counter()
            con = duckdb.connect(str(dpath), read_only=True)
            con.execute(duck_sql(keys, ["unit"], None)).fetchnumpy()
            add("duckdb: open + first view", (time.perf_counter() - t) * 1000)
            for label, fields, period in GROUPINGS:
                sql = duck_sql(keys, fields, period)
                add(f"duckdb: {label}", ms(lambda q=sql, d=con: d.execute(q).fetchnumpy()))
            con.close()
            for name, eng in rollups.items() if rnd < args.rollup_rounds else ():
                dialect = "postgresql" if name == "postgres" else "sqlite"
                with eng.connect() as conn:
                    for label, fields, period in GROUPINGS:
                        sql = rollup_sql(fields, period, dialect)
                        add(
                            f"rollup {name}: {label}", ms(lambda q=sql: conn.execute(text(q)).all())
                        )
            print(f"round {rnd + 1}/{args.rounds} done, load {os.getloadavg()[0]:.1f}", flush=True)

        # files with a tail: a generation written PERSIST_ROWS responses ago, so a start
        # maps it and reads the newest responses from the database (the worst case).
        mem = cube.refresh(s, campaign_id=cid)
        c, ans = mem.columns()
        cut = n_rows - cube_files.PERSIST_ROWS
        os.environ["MINYI_ANALYTICS_DIR"] = str(work / "columns-tail")
        created = str(s.get(Campaign, cid).created_at)  # type: ignore[union-attr]
        cube_files.write(
            cube_files.campaign_dir(work / "columns-tail", engine.url, cid, created),
            watermark=int(c["rid"][cut - 1]),
            keys=keys,
            tables={k: list(v.values) for k, v in mem.tables.items()},
            cols={k: v[:cut] for k, v in c.items()},
            answers={k: v[:cut] for k, v in ans.items()},
        )
        del mem, c, ans
        for _ in range(3):
            cube.forget()
            gc.collect()
            cube_files.PERSIST_ROWS += 1  # keep the tail: do not write it out here
            add(
                f"files: first view after a start, tail {n_rows - cut:,}",
                ms(lambda: cube_counts(s, cid, ["unit"], None)),
            )

    print(f"\n{n_rows:,} responses; load average at the end {os.getloadavg()}")
    for name, xs in res.items():
        if len(xs) == 1:
            print(f"{name:<44} {xs[0]:10.1f}")
        else:
            unit = "MB" if name.endswith("MB") else "ms"
            print(
                f"{name:<44} p50 {statistics.median(xs):9.1f} {unit}  p95 {pct(xs, 0.95):9.1f} {unit}"
                f"  (n={len(xs)})"
            )


if __name__ == "__main__":
    main()
