"""Ten million responses on PostgreSQL: the views through the real app, and what a worker costs.

Usage (from the repository root):

    .venv/bin/python bench/scale_10m.py [--responses 10000000] [--runs 20] [--keep] [--reuse]
        [--url postgresql+psycopg://postgres@127.0.0.1:5432/minyi_scale]

Generates the responses straight into PostgreSQL with COPY (``--url``'s database is created
if missing and **wiped**): the campaign of ``analytics_store.py`` (100 units, 40 areas, 90
days, through ``tests.synthetic.make_campaign``) and responses drawn from the model of
``tests.synthetic.add_responses``, vectorised; the secondary indexes and foreign keys are
dropped during the load and rebuilt after it, and the statistics tables are computed from the
raw rows by the product's own ``surveys.forms.stats.rebuild`` (what ``record_batch`` would
have kept), then ANALYZE. Then it starts the app (uvicorn, 2 workers) and measures:

- the first flexible view after a start with the analytics column files absent (the worker
  loads the campaign from the database and writes the first generation) and present (it maps
  that generation);
- p50/p95 of every view of the dashboard (page and bundle) and of the API
  (``analytics_bench.py``'s indicators, ranking and trends; ``analytics_store.py``'s
  groupings), alternating the views round by round;
- each worker's RSS, PSS (``/proc/<pid>/smaps_rollup``: mapped pages shared by the workers
  count once) and peak RSS, right after the views and again after a minute idle.

The database is dropped at the end unless ``--keep``; ``--reuse`` measures a kept one again.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402
from sqlmodel import Session, select  # noqa: E402

from analytics.comments import themes  # noqa: E402
from analytics.indicators import cube_files  # noqa: E402
from bench.analytics_bench import reuse_campaign  # noqa: E402
from bench.ingest import free_port  # noqa: E402
from bench.scale_10m_load import drop, generate  # noqa: E402
from bench.soak import worker_pids  # noqa: E402
from service.auth import issue_token  # noqa: E402
from service.config import Settings  # noqa: E402
from service.db import make_engine  # noqa: E402
from service.models import Role, User  # noqa: E402
from tests.synthetic import (  # noqa: E402
    add_responses,
)

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/minyi_scale"
SECRET = "bench-secret-key-0123456789abcdef0123456789"
COLUMNS = Path("/tmp/minyi-scale-columns")


def token(url: str) -> str:
    """An evaluator's bearer token (the account is made once)."""
    engine = make_engine(url)
    settings = Settings(database_url=url, secret_key=SECRET, environment="test")
    with Session(engine) as s:
        user = s.exec(select(User).where(User.username == "bench-evaluator")).first()
        if user is None:
            user = User(username="bench-evaluator", role=Role.evaluator, password_hash="-")
            s.add(user)
            s.flush()
        raw, _row = issue_token(s, user=user, settings=settings)
        s.commit()
    engine.dispose()
    return raw


def start(url: str, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """uvicorn with 2 workers, the column files under COLUMNS."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINYI_")}
    env.update(
        MINYI_DATABASE_URL=url,
        MINYI_SECRET_KEY=SECRET,
        MINYI_RATE_LIMIT="off",
        MINYI_MIGRATE_ON_START="false",
        MINYI_ENVIRONMENT="production",
        MINYI_ANALYTICS_DIR=str(COLUMNS),
        # The generated comments were never scored (a live service scores them as they
        # arrive); left on, the scorer would spend the benchmark on a backlog of 3 million.
        MINYI_COMMENT_SCORING_INTERVAL="0",
        PYTHONPATH=str(ROOT),
    )
    cmd = [sys.executable, "-m", "uvicorn", "service.main:create_app", "--factory"]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--workers", "2"]
    cmd += ["--no-access-log", "--log-level", "info"]
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {log.read_text()[-3000:]}")
        try:
            if httpx.get(base + "/healthz", timeout=2).status_code == 200 and (
                len(worker_pids(proc.pid)) == 2
            ):
                return proc, base
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    stop(proc)
    raise SystemExit("server did not start within 120 s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def memory(pid: int) -> dict[str, float]:
    """RSS, PSS (shared pages divided among their mappers), its file part, peak RSS; MB."""
    out: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, value = line.split(":", 1)
        if name in ("Rss", "Pss", "Pss_Anon", "Pss_File"):
            out[name] = int(value.split()[0]) / 1024
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            out["peak RSS"] = int(line.split()[1]) / 1024
    return out


def children(pid: int) -> list[int]:
    """A process's children, started by any of its threads (the dashboard's refresh process
    is started by the cache's refresh thread, so /proc/<pid>/children of the main thread
    alone misses it)."""
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return sorted(out)


def processes(master: int) -> list[tuple[str, int]]:
    """(label, pid) of every worker and of each worker's refresh process."""
    out = []
    for i, pid in enumerate(worker_pids(master)):
        out.append((f"worker {i + 1}", pid))
        out += [(f"worker {i + 1}'s refresh process", c) for c in children(pid)]
    return out


def show_memory(label: str, master: int) -> list[dict[str, float]]:
    rows = []
    for name, pid in processes(master):
        try:
            m = memory(pid)
        except OSError:
            continue  # a refresh process that just stopped
        rows.append(m)
        print(f"{label}, {name}: " + ", ".join(f"{k} {v:.0f} MB" for k, v in m.items()))
    return rows


class Sampler(threading.Thread):
    """Every process's PSS four times a second: the highest each reached, between two reports (a
    snapshot after the views misses what a background refresh holds while it computes)."""

    def __init__(self, master: int) -> None:
        super().__init__(daemon=True)
        self.master = master
        self.high: dict[str, float] = {}
        self.stopped = threading.Event()
        self.lock = threading.Lock()

    def run(self) -> None:
        while not self.stopped.wait(0.25):
            for name, pid in processes(self.master):
                try:
                    pss = memory(pid)["Pss"]
                except (OSError, KeyError):
                    continue
                with self.lock:
                    self.high[name] = max(self.high.get(name, 0.0), pss)

    def report(self, label: str) -> None:
        with self.lock:
            high, self.high = self.high, {}
        for name, pss in sorted(high.items()):
            print(f"highest PSS sampled {label}, {name}: {pss:.0f} MB")


SKIP: list[str] = []


def views(cid: int) -> list[tuple[str, str, dict[str, str]]]:
    """The views timed, less those whose name holds one of ``--skip``."""
    return [v for v in _views(cid) if not any(s in v[0] for s in SKIP)]


def _views(cid: int) -> list[tuple[str, str, dict[str, str]]]:
    api = f"/api/v1/campaigns/{cid}"
    c = str(cid)
    return [
        ("dashboard page", "/dashboard", {"campaign_id": c}),
        ("dashboard page, week, weighted", "/dashboard", {"campaign_id": c, "period": "week",
                                                          "weighted": "true"}),
        ("dashboard bundle", "/api/v1/dashboard", {"campaign_id": c}),
        ("dashboard bundle, week, weighted", "/api/v1/dashboard",
         {"campaign_id": c, "period": "week", "weighted": "true"}),
        ("indicators by=unit,dimension", f"{api}/indicators", {}),
        ("indicators by=dimension", f"{api}/indicators", {"by": "dimension"}),
        ("indicators by=unit", f"{api}/indicators", {"by": "unit"}),
        ("indicators by=area,dimension", f"{api}/indicators", {"by": "area,dimension"}),
        ("indicators by=age_band,sex", f"{api}/indicators", {"by": "age_band,sex"}),
        ("indicators by=unit, month", f"{api}/indicators", {"by": "unit", "period": "month"}),
        ("indicators by=unit,dimension, week", f"{api}/indicators",
         {"by": "unit,dimension", "period": "week"}),
        ("indicators by=unit,dimension, weighted", f"{api}/indicators",
         {"by": "unit,dimension", "weighted": "true"}),
        ("ranking", f"{api}/ranking", {}),
        ("ranking, weighted", f"{api}/ranking", {"weighted": "true"}),
        ("trends, month", f"{api}/trends", {"period": "month"}),
    ]  # fmt: skip


FAILED: list[str] = []


def get(client: httpx.Client, path: str, params: dict[str, str]) -> float:
    """Milliseconds to a 200; a failure (a worker restarted under the request) is counted
    and timed as it happened."""
    t = time.perf_counter()
    try:
        r = client.get(path, params=params)
        status = str(r.status_code)
    except httpx.HTTPError as exc:
        status = type(exc).__name__
    el = (time.perf_counter() - t) * 1000
    if status != "200":
        FAILED.append(f"{path} {params}: {status} after {el:.0f} ms")
        print(f"  FAILED {FAILED[-1]}", flush=True)
    return el


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def run_views(c: httpx.Client, cid: int, runs: int, label: str) -> None:
    """Every view, round by round; p50/p95 per view."""
    times: dict[str, list[float]] = {}
    for rnd in range(runs):
        for name, path, params in views(cid):
            times.setdefault(name, []).append(get(c, path, params))
        if (rnd + 1) % 5 == 0:
            print(f"  round {rnd + 1}/{runs}, load {os.getloadavg()[0]:.1f}", flush=True)
    print(f"\nviews {label}, {runs} rounds (ms):")
    for name, xs in times.items():
        print(
            f"  {name:<42} p50 {statistics.median(xs):8.1f}  p95 {pct(xs, 0.95):8.1f}"
            f"  max {max(xs):8.1f}"
        )


def tail(url: str, c: httpx.Client, cid: int, runs: int, master: int, sampler: Sampler) -> None:
    """New responses after the mapped generation: views with a tail, then the write of the
    next generation by the request that finds the tail past ``PERSIST_ROWS``."""
    engine = make_engine(url)
    syn = reuse_campaign(engine)
    first = (f"/api/v1/campaigns/{cid}/indicators", {"by": "area,dimension"})
    add_responses(engine, syn, n=4000, seed=2, chunk=4000)
    print(f"\n4,000 new responses stored (record_batch), load {os.getloadavg()[0]:.1f}")
    for i in range(2):
        print(f"  view {i + 1} reading the tail: {get(c, *first):.0f} ms")
    run_views(c, cid, runs, "with a 4,000-response tail")
    show_memory("with the tail", master)
    sampler.report("during the views with the tail")
    add_responses(engine, syn, n=cube_files.PERSIST_ROWS - 4000 + 1, seed=3, chunk=5000)
    print(f"\ntail past {cube_files.PERSIST_ROWS:,}: the next views write and map a generation")
    for i in range(4):
        print(f"  view {i + 1}: {get(c, *first):.0f} ms")
    show_memory("after the new generation", master)
    sampler.report("while the next generation was written")
    engine.dispose()


def measure(url: str, cid: int, runs: int, log: Path, cold: bool) -> None:
    auth = {"Authorization": f"Bearer {token(url)}"}
    first = ("indicators by=area,dimension", f"/api/v1/campaigns/{cid}/indicators",
             {"by": "area,dimension"})  # fmt: skip
    # 1. No column files: the first flexible view loads the campaign from the database.
    if cold:
        shutil.rmtree(COLUMNS, ignore_errors=True)
        cold_start(url, cid, auth, log)
    gens = sorted(p.name for p in COLUMNS.rglob("gen-*"))
    size = sum(f.stat().st_size for f in COLUMNS.rglob("*.npy"))
    print(f"column files: {gens}, {size / 2**20:.0f} MB")
    # 2. Column files present: a start maps them; then every view, round by round.
    proc, base = start(url, log)
    sampler = Sampler(proc.pid)
    sampler.start()
    try:
        with httpx.Client(base_url=base, headers=auth, timeout=600) as c:
            print(f"\nrestarted, load {os.getloadavg()[0]:.1f}")
            for i in range(4):
                ms = get(c, first[1], first[2])
                print(f"view {i + 1} after a start, column files present: {ms:.0f} ms")
            show_memory("after the first views", proc.pid)
            for _name, path, params in views(cid):  # warm-up: every worker, every view
                get(c, path, params)
                get(c, path, params)
            sampler.report("during the first views and the warm-up")
            run_views(c, cid, runs, "from the mapped generation")
            show_memory("\nafter every view", proc.pid)
            sampler.report("during the views")
            # 3. A tail of new responses, then the next generation.
            tail(url, c, cid, max(2, runs // 4), proc.pid, sampler)
            # What a worker keeps once idle: the comment themes' word lists are dropped this
            # long after their last use, the allocator's free pages handed back meanwhile.
            # Last: the client's connection does not outlive the pause (the next request
            # could land on the other worker).
            time.sleep(themes.IDLE_SECONDS + 5)
            show_memory(f"\nafter {themes.IDLE_SECONDS + 5:.0f} s idle", proc.pid)
            sampler.report("while idle")
    finally:
        sampler.stopped.set()
        stop(proc)


def cold_start(url: str, cid: int, auth: dict[str, str], log: Path) -> None:
    first = (f"/api/v1/campaigns/{cid}/indicators", {"by": "area,dimension"})
    proc, base = start(url, log)
    try:
        with httpx.Client(base_url=base, headers=auth, timeout=1800) as c:
            print(f"\nstarted, load {os.getloadavg()[0]:.1f}; first view, files absent ...")
            ms = get(c, *first)
            print(f"first view after a start, column files absent: {ms / 1000:.1f} s")
            show_memory("after it", proc.pid)
            # The other worker's first view (it maps the generation just written, or loads
            # too if the request lands on the same worker; either way: the next few).
            for i in range(3):
                print(f"  view {i + 2}: {get(c, *first):.0f} ms")
            show_memory("after 4 views", proc.pid)
    finally:
        stop(proc)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--responses", type=int, default=10_000_000)
    ap.add_argument("--chunk", type=int, default=250_000)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--url", default=DEFAULT_URL)
    ap.add_argument("--reuse", action="store_true", help="measure a database kept by --keep")
    ap.add_argument("--keep", action="store_true", help="do not drop the database at the end")
    ap.add_argument(
        "--warm-only",
        action="store_true",
        help="with --reuse: keep the column files, no cold start",
    )
    ap.add_argument("--skip", action="append", default=[], help="leave out views named so")
    args = ap.parse_args()
    SKIP.extend(args.skip)
    print(
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; responses={args.responses:,} runs={args.runs}"
        f"; load average {os.getloadavg()} on {os.cpu_count()} cores",
        flush=True,
    )
    log = Path(f"/tmp/minyi-scale-{os.getpid()}.log")
    try:
        if args.reuse:
            engine: Engine = make_engine(args.url)
            with engine.connect() as conn:
                cid = int(conn.execute(text("SELECT MIN(id) FROM campaign")).scalar_one())
            engine.dispose()
        else:
            cid, times = generate(args.url, args.responses, args.chunk)
            for name, s in times.items():
                print(f"{name:<40} {s:8.0f}")
        engine = create_engine(args.url)
        with engine.connect() as conn:
            size = conn.execute(text("SELECT pg_database_size(current_database())")).scalar()
            rows = {
                t: conn.execute(
                    text(f"SELECT reltuples::bigint FROM pg_class WHERE relname='{t}'")
                ).scalar()
                for t in ("survey_response", "response_answer", "stat_unit", "stat_cell")
            }
        engine.dispose()
        print(f"database {int(size or 0) / 2**30:.1f} GB; rows (estimated) {rows}", flush=True)
        measure(args.url, cid, args.runs, log, cold=not args.warm_only)
    finally:
        print(f"\nload average at the end {os.getloadavg()}; server log {log}")
        print(f"failed requests: {len(FAILED)}")
        if not args.keep:
            drop(args.url)
            shutil.rmtree(COLUMNS, ignore_errors=True)


if __name__ == "__main__":
    main()
