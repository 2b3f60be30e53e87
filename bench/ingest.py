"""Response ingestion through HTTP, beside a bare FastAPI endpoint, in one run.

    .venv/bin/python bench/ingest.py                    # bare, SQLite, PostgreSQL; 15 s each
    .venv/bin/python bench/ingest.py --backends sqlite --duration 5

For each target it starts uvicorn on 127.0.0.1 (same flags for all: 1 worker by default, no
access log), warms up, then runs ``wrk --latency`` with 64 connections and the Lua script
``bench/post_response.lua`` (a new submission_id, varied answers and comment per request).
The real endpoint validates, waits for the group commit, and answers 201 only after the
commit; the bare endpoint validates the same body with the same model and stores nothing.
Afterwards the stored rows are counted: every acknowledged response must be in the database.
Each target also reports CPU per request (server, PostgreSQL, load generator) and the
machine's idle share during the run, so a run on a loaded machine shows as such.
On PostgreSQL the tables are ANALYZEd after the warm-up, as autovacuum would have done by then
(where autovacuum is off, it would never have run).

PostgreSQL: the database given by --postgres-url is wiped (schema ``public`` dropped).
Everything is bounded in time and talks only to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SECRET = "bench-secret-key-0123456789abcdef0123456789"
LUA = ROOT / "bench" / "post_response.lua"
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/minyi_bench"


@dataclass
class Result:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int
    errors: str
    stored: int | None = None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ensure_pg_database(url: str) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    u = make_url(url)
    admin = create_engine(u.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": u.database}
        ).first()
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{u.database}"'))
    admin.dispose()
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def prepare(url: str) -> int:
    """Migrate, add a few units, the five-dimension questionnaire and an open campaign."""
    from sqlmodel import Session

    from service.db import make_engine, upgrade, utcnow
    from surveys.forms.models import Access, QuestionType
    from surveys.forms.schemas import CampaignCreate, QuestionIn, SurveyCreate
    from surveys.forms.service import create_campaign, create_survey
    from surveys.units.models import Unit, UnitKind

    upgrade(url)
    engine = make_engine(url)
    with Session(engine) as s:
        district = Unit(code="district", name="示范区", kind=UnitKind.district)
        s.add(district)
        s.flush()
        street = Unit(code="street-a", name="建设街道", kind=UnitKind.street, parent_id=district.id)
        s.add(street)
        s.flush()
        for code, kind, parent in [
            ("comm-a1", UnitKind.community, street.id),
            ("comm-a2", UnitKind.community, street.id),
            ("dept-civil", UnitKind.department, district.id),
            ("dept-hrss", UnitKind.department, district.id),
            ("dept-health", UnitKind.department, district.id),
            ("win-social", UnitKind.service_window, district.id),
        ]:
            s.add(Unit(code=code, name=code, kind=kind, parent_id=parent))
        s.flush()
        dims = ["attitude", "efficiency", "transparency", "integrity", "results"]
        questions = [
            QuestionIn(key=d, type=QuestionType.rating, label=d, dimension=d, required=True)
            for d in dims
        ]
        questions.append(QuestionIn(key="recommend", type=QuestionType.nps, label="推荐"))
        survey = create_survey(s, data=SurveyCreate(title="bench", questions=questions))
        now = utcnow()
        campaign = create_campaign(
            s,
            data=CampaignCreate(
                survey_id=survey.id or 0,
                title="bench",
                opens_at=now - timedelta(days=1),
                closes_at=now + timedelta(days=365),
                unit_codes=["dept-civil", "dept-hrss", "dept-health", "win-social", "street-a"],
                access=Access.open,
                profile_fields=["area", "age_band", "sex"],
            ),
        )
        s.commit()
        cid = campaign.id or 0
    engine.dispose()
    return cid


def count_rows(url: str) -> int:
    from sqlalchemy import text

    from service.db import make_engine

    engine = make_engine(url)
    with engine.connect() as conn:
        n = int(conn.execute(text("SELECT count(*) FROM survey_response")).scalar_one())
    engine.dispose()
    return n


def analyze(url: str) -> None:
    """What autovacuum does after the first few thousand rows (where it is off, or has not
    run yet): without statistics the planner reads a whole campaign to find a few keys."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("ANALYZE"))
    engine.dispose()


def start_server(
    target: list[str], env: dict[str, str], workers: int
) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        *target,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **env})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                time.sleep(0.5)
                return proc, port
        except OSError:
            time.sleep(0.2)
    proc.terminate()
    raise RuntimeError("server did not start within 60 s")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


_UNIT = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(value: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s|m)$", value.strip())
    if not m:
        raise ValueError(f"unreadable latency {value!r}")
    return float(m.group(1)) * _UNIT[m.group(2)]


def run_wrk(
    url: str, *, duration: int, connections: int, threads: int
) -> tuple[float, float, float, int, int, str]:
    cmd = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration}s",
        "--latency",
        "--timeout",
        "10s",
        "-s",
        str(LUA),
        url,
    ]
    out = subprocess.run(
        cmd, capture_output=True, text=True, timeout=duration + 60, check=True
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    non2xx_m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors_m = re.search(r"Socket errors: (.*)", out)
    return (
        rps,
        p50,
        p99,
        total,
        int(non2xx_m.group(1)) if non2xx_m else 0,
        errors_m.group(1) if errors_m else "",
    )


def measure(
    name: str,
    target: list[str],
    env: dict[str, str],
    path: str,
    args: argparse.Namespace,
    url: str | None = None,
) -> Result:
    proc, port = start_server(target, env, args.workers)
    try:
        base = f"http://127.0.0.1:{port}{path}"
        run_wrk(base, duration=args.warmup, connections=args.connections, threads=args.threads)
        if url and url.startswith("postgresql"):
            analyze(url)
        before = count_rows(url) if url else None
        cpu0 = cpu_seconds(proc.pid)
        rps, p50, p99, total, non2xx, errors = run_wrk(
            base, duration=args.duration, connections=args.connections, threads=args.threads
        )
        cpu = {k: v - cpu0.get(k, 0.0) for k, v in cpu_seconds(proc.pid).items()}
        time.sleep(0.5)
        stored = count_rows(url) - before if url and before is not None else None
    finally:
        stop_server(proc)
    r = Result(name, rps, p50, p99, total, non2xx, errors, stored)
    per = {k: v * 1000 / max(total, 1) for k, v in cpu.items()}
    print(
        f"{name:<22} {rps:>9,.0f} req/s  p50 {p50:7.2f} ms  p99 {p99:7.2f} ms  "
        f"requests {total:,}  non-2xx {non2xx}"
        + (f"  stored {stored:,}" if stored is not None else "")
        + (f"  socket errors: {errors}" if errors else "")
        + f"\n{'':<22} CPU ms per request: server {per['server']:.3f}, "
        f"PostgreSQL {per['postgres']:.3f}, load generator {per['wrk']:.3f}; "
        f"machine idle {100 * cpu['idle'] / (cpu['all'] or 1):.0f}%, "
        f"server busy {100 * cpu['server'] / args.duration:.0f}% of a core",
        flush=True,
    )
    return r


def cpu_seconds(server: int) -> dict[str, float]:
    """CPU seconds so far of the server's processes, PostgreSQL's, the finished children
    (the load generator) and the machine (all, idle): where a request's cost goes."""
    import resource

    tick = os.sysconf("SC_CLK_TCK")
    out = {"server": 0.0, "postgres": 0.0}
    children: dict[int, list[int]] = {}
    stats: dict[int, tuple[str, float]] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            raw = (d / "stat").read_text()
        except OSError:
            continue
        comm = raw[raw.index("(") + 1 : raw.rindex(")")]
        f = raw[raw.rindex(")") + 2 :].split()
        children.setdefault(int(f[1]), []).append(int(d.name))
        stats[int(d.name)] = (comm, (int(f[11]) + int(f[12])) / tick)
    tree = [server]
    while tree:
        pid = tree.pop()
        out["server"] += stats.get(pid, ("", 0.0))[1]
        tree += children.get(pid, [])
    out["postgres"] = sum(t for comm, t in stats.values() if comm.startswith("postgres"))
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    out["wrk"] = usage.ru_utime + usage.ru_stime
    ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    out["all"], out["idle"] = sum(ticks) / tick, (ticks[3] + ticks[4]) / tick
    return out


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--backends", default="sqlite,postgres")
    ap.add_argument("--duration", type=int, default=15, help="seconds measured per target")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1, help="wrk threads")
    ap.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    ap.add_argument(
        "--postgres-url", default=os.environ.get("MINYI_BENCH_POSTGRES_URL", DEFAULT_PG)
    )
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: sudo apt-get install -y wrk")
    print(
        f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s (after {args.warmup}s warm-up); "
        f"uvicorn --workers {args.workers} --no-access-log; {os.cpu_count()} CPUs",
        flush=True,
    )
    tmp = Path(tempfile.mkdtemp(prefix="minyi-bench-"))
    results: list[Result] = []
    try:
        results.append(
            measure(
                "bare (no storage)",
                ["bench.bare_app:app"],
                {},
                "/api/v1/campaigns/1/responses",
                args,
            )
        )
        for backend in [b for b in args.backends.split(",") if b]:
            if backend == "sqlite":
                url = f"sqlite:///{tmp / 'bench.db'}"
            else:
                url = args.postgres_url
                ensure_pg_database(url)
            cid = prepare(url)
            env = {
                "MINYI_DATABASE_URL": url,
                "MINYI_SECRET_KEY": SECRET,
                "MINYI_RATE_LIMIT": "off",
                "MINYI_MIGRATE_ON_START": "false",
                "MINYI_ENVIRONMENT": "production",
            }
            results.append(
                measure(
                    f"minyi on {backend}",
                    ["service.main:create_app", "--factory"],
                    env,
                    f"/api/v1/campaigns/{cid}/responses",
                    args,
                    url,
                )
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    bare = results[0].rps
    print(
        "\n| target | requests/s | share of bare | p50 ms | p99 ms | non-2xx | acknowledged | rows stored |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        acked = r.requests - r.non_2xx
        print(
            f"| {r.name} | {r.rps:,.0f} | {100 * r.rps / bare:.0f}% | {r.p50_ms:.1f} | {r.p99_ms:.1f} "
            f"| {r.non_2xx} | {acked:,} | {'' if r.stored is None else f'{r.stored:,}'} |"
        )
    lost = [r.name for r in results if r.stored is not None and r.stored < r.requests - r.non_2xx]
    if lost:
        sys.exit(f"acknowledged responses missing from the database: {lost}")


if __name__ == "__main__":
    main()
