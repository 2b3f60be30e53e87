"""Benchmark of the deputies' vote: casting ballots concurrently through real server
processes, closing (counting) a session, and the Method of Equal Shares.

    .venv/bin/python bench/voting_bench.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/minyi_voting
    .venv/bin/python bench/voting_bench.py                      # SQLite in a temporary file
    .venv/bin/python bench/voting_bench.py --mes-only           # only the Equal Shares timings

The database is emptied first (PostgreSQL: its public schema is dropped): never point it at
data you keep. Results are printed with the settings used; docs/benchmarks.md has them.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text
from sqlmodel import Session

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from service.auth import hash_password, issue_token  # noqa: E402
from service.config import Settings  # noqa: E402
from service.db import make_engine, upgrade  # noqa: E402
from service.models import Role, User  # noqa: E402
from surveys.units.models import Unit, UnitKind  # noqa: E402
from surveys.voting import equal_shares as shares  # noqa: E402
from surveys.voting import pabulib  # noqa: E402
from surveys.voting.models import ProjectCreate, SessionCreate, VotingSession  # noqa: E402
from surveys.voting.projects import create_project  # noqa: E402
from surveys.voting.sessions import close_session, create_session, open_session  # noqa: E402

SECRET = "bench-secret-key-0123456789abcdef0123456789"
SHARED = ROOT.parent / "shared" / "data" / "pabulib"


def reset(url: str) -> None:
    if url.startswith("postgresql"):
        engine = create_engine(url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    elif url.startswith("sqlite:///"):
        for suffix in ("", "-wal", "-shm"):
            Path(url.removeprefix("sqlite:///") + suffix).unlink(missing_ok=True)
    upgrade(url)


def seed(url: str, deputies: int, projects: int) -> tuple[int, list[int], list[str]]:
    """Units, an admin, the deputies with tokens, projects, and an open session."""
    engine = make_engine(url)
    settings = Settings(database_url=url, secret_key=SECRET, environment="test")
    with Session(engine) as s:
        s.add(Unit(code="civil", name="民政局", kind=UnitKind.department))
        s.flush()
        pw = hash_password("bench-password-123")
        users = [
            User(username=f"deputy{i:03d}", role=Role.deputy, password_hash=pw)
            for i in range(deputies)
        ]
        s.add_all(users)
        s.flush()
        tokens = [issue_token(s, user=u, settings=settings)[0] for u in users]
        rng = random.Random(1)
        ids = [
            create_project(
                s,
                data=ProjectCreate(
                    title=f"项目{i}",
                    category="养老",
                    budget=rng.randrange(500_000, 5_000_000, 10_000),
                    sponsor_unit_code="civil",
                ),
            ).id
            or 0
            for i in range(projects)
        ]
        vs = create_session(
            s,
            data=SessionCreate(
                title="基准测试",
                year=2027,
                project_ids=ids,
                deputy_usernames=[u.username for u in users],
                budget_cap=30_000_000,
            ),
            actor="bench",
        )
        open_session(s, vs=vs, actor="bench")
        s.commit()
        sid = vs.id or 0
    engine.dispose()
    return sid, ids, tokens


def start_servers(
    url: str, n: int, log_dir: Path
) -> tuple[list[subprocess.Popen[bytes]], list[str]]:
    env = dict(
        os.environ,
        MINYI_DATABASE_URL=url,
        MINYI_MIGRATE_ON_START="false",
        MINYI_SECRET_KEY=SECRET,
        MINYI_RATE_LIMIT="off",
        MINYI_ENVIRONMENT="test",
    )
    procs, urls = [], []
    for i in range(n):
        port = 18400 + i
        log = (log_dir / f"server{i}.log").open("wb")
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "service.main:create_app",
                    "--factory",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--log-level",
                    "warning",
                ],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        urls.append(f"http://127.0.0.1:{port}")
    for u in urls:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(u + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"server {u} did not start")
            time.sleep(0.2)
    return procs, urls


def cast_all(
    urls: list[str], sid: int, ids: list[int], tokens: list[str], attempts: int, workers: int
) -> dict[str, object]:
    jobs = [(d, a) for d in range(len(tokens)) for a in range(attempts)]
    random.Random(2).shuffle(jobs)
    clients = [httpx.Client(base_url=u, timeout=120) for u in urls]

    def mark(d: int, p: int) -> str:
        # Projects differ in support (40% to 85% "for"); the same marks on every attempt.
        x = random.Random(d * 100_003 + p).random()
        popular = 0.4 + 0.05 * (p % 10)
        return "for" if x < popular else "against" if x < popular + 0.3 else "abstain"

    def one(job: tuple[int, int]) -> tuple[int, float]:
        d, a = job
        choices = {str(p): mark(d, p) for p in ids}
        t0 = time.perf_counter()
        r = clients[(d + a) % len(clients)].post(
            f"/api/v1/voting-sessions/{sid}/ballots",
            json={"choices": choices},
            headers={"Authorization": f"Bearer {tokens[d]}"},
        )
        return r.status_code, time.perf_counter() - t0

    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(one, jobs))
    wall = time.perf_counter() - started
    for c in clients:
        c.close()
    lat = sorted(x for _, x in results)
    return {
        "requests": len(jobs),
        "codes": dict(Counter(c for c, _ in results)),
        "wall_s": round(wall, 2),
        "req_per_s": round(len(jobs) / wall, 1),
        "p50_ms": round(1000 * statistics.median(lat), 1),
        "p95_ms": round(1000 * lat[int(0.95 * (len(lat) - 1))], 1),
        "max_ms": round(1000 * lat[-1], 1),
    }


def close_timing(url: str, sid: int) -> float:
    engine = make_engine(url)
    with Session(engine) as s:
        vs = s.get(VotingSession, sid)
        assert vs is not None
        t0 = time.perf_counter()
        close_session(s, vs=vs, actor="bench")
        s.commit()
        took = time.perf_counter() - t0
        assert vs.result is not None
        print(
            f"  counted: {vs.result['cast']} ballots, {sum(r['selected'] for r in vs.result['projects'])} selected,"
            f" Equal Shares {len(vs.result['equal_shares']['selected'])} selected"
        )
    engine.dispose()
    return took


def mes_timings(with_pabutools: bool) -> None:
    path = SHARED / "Poland_Wieliczka_2023_Green_Budget.pb"
    e = pabulib.parse(path.read_text(encoding="utf-8"))
    costs = {p.project_id: p.cost for p in e.projects}
    t0 = time.perf_counter()
    res = shares.equal_shares(costs, e.votes, e.budget)
    fast = time.perf_counter() - t0
    print(
        f"Wieliczka (6586 voters, 64 projects): fast exact add-one {fast:.2f}s, {res.runs} MES runs,"
        f" {res.per_voter_budget} per voter, matches file: {set(res.selected) == {p.project_id for p in e.projects if p.selected == 1}}"
    )
    # The plain loop: one fixed-budget MES per unit of per-voter budget (same exact MES code).
    keys = list(costs)
    idx = {k: i for i, k in enumerate(keys)}
    pb = shares._problem([costs[k] for k in keys], [[idx[k] for k in b] for b in e.votes])
    t0 = time.perf_counter()
    b = e.budget // pb.n
    winners, runs = shares._mes_fixed(pb, b)[0], 1
    while True:
        nxt = shares._mes_fixed(pb, b + 1)[0]
        runs += 1
        if sum(pb.costs[p] for p in nxt) > e.budget:
            break
        b, winners = b + 1, nxt
    plain = time.perf_counter() - t0
    print(
        f"  one unit at a time with the same MES: {plain:.2f}s, {runs} runs, same outcome: {winners == [idx[k] for k in res.mes]}"
    )
    if with_pabutools:
        from pabutools.election import ApprovalBallot, ApprovalProfile, Cost_Sat, Instance, Project
        from pabutools.rules import method_of_equal_shares

        projects = {k: Project(k, c) for k, c in costs.items()}
        profile = ApprovalProfile(
            [ApprovalBallot([projects[k] for k in ballot]) for ballot in e.votes]
        )
        t0 = time.perf_counter()
        b, runs = e.budget // len(e.votes), 0
        chosen = None
        while True:
            inst = Instance(projects.values(), budget_limit=b * len(e.votes))
            out = method_of_equal_shares(inst, profile, sat_class=Cost_Sat)
            runs += 1
            if sum(p.cost for p in out) > e.budget:
                break
            chosen, b = out, b + 1
        took = time.perf_counter() - t0
        same = chosen is not None and {p.name for p in chosen} == set(res.mes)
        print(
            f"  one unit at a time with pabutools: {took:.1f}s, {runs} runs, same outcome: {same}"
        )
    budapest = SHARED / "Hungary_Budapest_2023_VIII_Jozsefvaros.pb"
    e = pabulib.parse(budapest.read_text(encoding="utf-8"))
    t0 = time.perf_counter()
    res = shares.equal_shares({p.project_id: p.cost for p in e.projects}, e.votes, e.budget)
    print(
        f"Budapest (918 voters, 40 projects, 163398 -> {res.per_voter_budget} per voter): fast exact add-one"
        f" {time.perf_counter() - t0:.2f}s, {res.runs} MES runs instead of {int(res.per_voter_budget) - e.budget // len(e.votes) + 1}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--database-url", default="")
    ap.add_argument("--deputies", type=int, default=300)
    ap.add_argument("--projects", type=int, default=25)
    ap.add_argument("--attempts", type=int, default=5)
    ap.add_argument(
        "--workers",
        type=int,
        default=0,
        help="concurrent HTTP clients (default 32 on PostgreSQL, 12 on SQLite: see docs)",
    )
    ap.add_argument("--servers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--mes-only", action="store_true")
    ap.add_argument(
        "--pabutools",
        action="store_true",
        help="also time the one-unit loop with pabutools (about a minute)",
    )
    args = ap.parse_args()
    print(f"machine: {os.cpu_count()} cores; python {sys.version.split()[0]}")
    if not args.mes_only:
        tmp = Path(tempfile.mkdtemp(prefix="minyi-bench-"))
        url = args.database_url or f"sqlite:///{tmp / 'bench.db'}"
        args.workers = args.workers or (32 if url.startswith("postgresql") else 12)
        for n in args.servers:
            reset(url)
            sid, ids, tokens = seed(url, args.deputies, args.projects)
            procs, urls = start_servers(url, n, tmp)
            try:
                print(
                    f"{url.split(':')[0]}, {n} server process(es), {args.deputies} deputies x {args.attempts} attempts,"
                    f" {args.projects} projects, {args.workers} concurrent clients:"
                )
                print("  ", cast_all(urls, sid, ids, tokens, args.attempts, args.workers))
            finally:
                for p in procs:
                    p.terminate()
                for p in procs:
                    p.wait(timeout=30)
            print(f"  close (count + Equal Shares, reshuffle): {close_timing(url, sid):.2f}s")
    mes_timings(args.pabutools)


if __name__ == "__main__":
    main()
