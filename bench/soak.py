"""Mixed-load soak on PostgreSQL with 2 uvicorn workers: residents post responses, evaluators
open the dashboard and change filters, deputies vote, an admin imports, all at once.

    .venv/bin/python bench/soak.py                  # 10 minutes after a 30 s warm-up
    .venv/bin/python bench/soak.py --minutes 1 --url postgresql+psycopg://postgres@127.0.0.1:5432/NAME

The database at --url is wiped (schema ``public`` dropped), migrated and seeded with the demo
district (``build_demo``), plus open voting sessions over the demo's 2027 slate so the deputies
have ballots to cast for the whole run; then ANALYZEd, as autovacuum would have done.
Each role runs in its own client process (httpx, one thread per user):

- residents: fetch the form now and then, post a response with a fresh submission_id;
- evaluators: the dashboard page, the ``/api/v1/dashboard`` bundle and the indicators, each
  with randomly changed filters (period, area, unit kind, month, weighting, grouping);
- deputies: cast ballots, and now and then a second ballot for a seat that voted (409);
- the admin: a CSV of paper responses, then a small XLSForm workbook, in turn.

Recorded: requests, 5xx, other non-2xx and client errors per kind, p50/p99 per kind (after the
warm-up), the RSS of each worker process (/proc) at the end of the warm-up and at the end, and
whether every acknowledged (201) response, imported row, survey and ballot is stored exactly
once. Exits non-zero on any 5xx, anything lost or duplicated, or RSS growth of 10% or more.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text
from sqlmodel import Session, select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.ingest import free_port  # noqa: E402
from bench.soak_clients import Record, role_process  # noqa: E402
from service.auth import issue_token  # noqa: E402
from service.config import Settings  # noqa: E402
from service.db import make_engine, upgrade  # noqa: E402
from service.demo import build_demo  # noqa: E402
from service.models import Role, User  # noqa: E402
from surveys.forms.abuse import submission_key  # noqa: E402
from surveys.forms.demo import AGE_BANDS, AGE_WEIGHTS  # noqa: E402
from surveys.forms.exports import public_id  # noqa: E402
from surveys.forms.models import Access, Campaign  # noqa: E402
from surveys.voting.models import SessionCreate, SessionState, VotingSession  # noqa: E402
from surveys.voting.sessions import create_session, open_session  # noqa: E402

SECRET = "bench-secret-key-0123456789abcdef0123456789"
SEX = {"sex": {"female": 0.51, "male": 0.49}}
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/minyi_soak"


# --- seeding ---------------------------------------------------------------------------------


def seed(url: str, responses: int, sessions: int) -> dict[str, Any]:
    """Demo district, extra open voting sessions, bearer tokens; what the clients need."""
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    upgrade(url)
    engine = make_engine(url)
    build_demo(engine, responses=responses, seed=7)
    settings = Settings(database_url=url, secret_key=SECRET, environment="test")
    with Session(engine) as s:
        campaign = s.exec(
            select(Campaign).where(Campaign.access == Access.open).order_by(Campaign.id)  # type: ignore[arg-type]
        ).first()
        slate = s.exec(
            select(VotingSession).where(VotingSession.state == SessionState.open)
        ).first()
        assert campaign is not None and slate is not None and slate.frozen_config is not None
        # Population shares, so the evaluators' "weighted" switch has margins to rake to.
        campaign.margins = {"age_band": dict(zip(AGE_BANDS, AGE_WEIGHTS, strict=True)), **SEX}
        s.add(campaign)
        project_ids = [int(p["project_id"]) for p in slate.frozen_config["projects"]]
        deputies = list(s.exec(select(User).where(User.role == Role.deputy).order_by(User.id)))  # type: ignore[arg-type]
        session_ids = []
        for i in range(sessions):
            vs = create_session(
                s,
                data=SessionCreate(
                    title=f"压力测试票决 {i + 1}",
                    year=2027,
                    project_ids=project_ids,
                    deputy_usernames=[d.username for d in deputies],
                    budget_cap=6_000_000,
                ),
                actor="admin",
            )
            open_session(s, vs=vs, actor="admin")
            session_ids.append(vs.id or 0)
        users = {u.username: u for u in s.exec(select(User))}
        tokens = {
            name: issue_token(s, user=users[name], settings=settings)[0]
            for name in ("admin", "evaluator")
        }
        deputy_tokens = [issue_token(s, user=d, settings=settings)[0] for d in deputies]
        s.commit()
        cid = campaign.id or 0
        months = [
            m
            for (m,) in s.execute(
                text(
                    "SELECT DISTINCT to_char(submitted_hour, 'YYYY-MM') FROM survey_response"
                    " WHERE campaign_id = :c ORDER BY 1"
                ),
                {"c": cid},
            )
        ]
    engine.dispose()
    analyze(url)
    return {
        "campaign_id": cid,
        "months": months,
        "age_bands": AGE_BANDS,
        "sexes": list(SEX["sex"]),
        "project_ids": project_ids,
        "session_ids": session_ids,
        "admin": tokens["admin"],
        "evaluator": tokens["evaluator"],
        "deputies": deputy_tokens,
    }


def analyze(url: str) -> None:
    """What autovacuum would have done by now (it is off on some machines)."""
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("ANALYZE"))
    engine.dispose()


# --- the server ------------------------------------------------------------------------------


def start_server(url: str, workers: int, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """uvicorn with the app factory, as tests/hardening/server.py starts it, on a free port."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINYI_")}
    env.update(
        MINYI_DATABASE_URL=url,
        MINYI_SECRET_KEY=SECRET,
        MINYI_RATE_LIMIT="off",
        MINYI_MIGRATE_ON_START="false",
        MINYI_ENVIRONMENT="production",
        PYTHONPATH=str(ROOT),
    )
    cmd = [sys.executable, "-m", "uvicorn", "service.main:create_app", "--factory"]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    cmd += ["--no-access-log", "--log-level", "warning"]
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {log.read_text()[-3000:]}")
        try:
            if httpx.get(base + "/healthz", timeout=2).status_code == 200 and (
                len(worker_pids(proc.pid)) == workers
            ):
                return proc, base
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.terminate()
    raise SystemExit("server did not start within 90 s")


def worker_pids(master: int) -> list[int]:
    """uvicorn's worker processes: the master's children started by multiprocessing."""
    try:
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    except OSError:
        return []
    out = []
    for pid in children:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"spawn_main" in cmdline:
            out.append(int(pid))
    return sorted(out)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


# --- the checks --------------------------------------------------------------------------------


def stored(url: str, cfg: dict[str, Any]) -> dict[str, Any]:
    """What the database holds of what the clients can have written."""
    engine = create_engine(url)
    with engine.connect() as conn:
        responses = conn.execute(
            text("SELECT id, submission_key, source FROM survey_response WHERE campaign_id = :c"),
            {"c": cfg["campaign_id"]},
        ).all()
        receipts = conn.execute(
            text("SELECT receipt_hash FROM voting_ballot WHERE session_id = ANY(:s)"),
            {"s": cfg["session_ids"]},
        ).all()
        voters = conn.execute(
            text("SELECT count(*) FROM voting_voter WHERE session_id = ANY(:s)"),
            {"s": cfg["session_ids"]},
        ).scalar_one()
        surveys = conn.execute(text("SELECT count(*) FROM survey")).scalar_one()
    engine.dispose()
    return {
        "web": [(i, k) for i, k, src in responses if src == "web"],
        "imported": sum(1 for *_, src in responses if src != "web"),
        "receipts": [h for (h,) in receipts],
        "voters": int(voters),
        "surveys": int(surveys),
    }


def verify(before: dict[str, Any], after: dict[str, Any], acked: dict[str, list[Any]],
           cid: int) -> list[str]:  # fmt: skip
    """Every acknowledged write stored exactly once, and nothing stored that was not."""
    problems = []
    by_key = Counter(k for _, k in after["web"])
    ids = {k: public_id(SECRET, i) for i, k in after["web"]}
    for sid, rid in acked["responses"]:
        key = submission_key(SECRET, cid, sid)
        if by_key[key] != 1:
            problems.append(f"response {sid}: stored {by_key[key]} times")
        elif ids[key] != rid:
            problems.append(f"response {sid}: acknowledged as {rid}, stored as {ids[key]}")
    new_web = len(after["web"]) - len(before["web"])
    if new_web != len(acked["responses"]):
        problems.append(f"{new_web} new web responses for {len(acked['responses'])} acknowledged")
    new_import = after["imported"] - before["imported"]
    if new_import != sum(acked["imported rows"]):
        problems.append(
            f"{new_import} imported rows for {sum(acked['imported rows'])} acknowledged"
        )
    if after["surveys"] - before["surveys"] != len(acked["surveys"]):
        problems.append(
            f"{after['surveys'] - before['surveys']} new surveys for {len(acked['surveys'])}"
        )
    receipts = Counter(after["receipts"])
    for h in acked["ballots"]:
        if receipts[h] != 1:
            problems.append(f"ballot {h[:12]}: stored {receipts[h]} times")
    if len(after["receipts"]) != len(acked["ballots"]):
        problems.append(f"{len(after['receipts'])} ballots stored for {len(acked['ballots'])}")
    if after["voters"] != len(after["receipts"]):
        problems.append(f"{after['voters']} voters marked for {len(after['receipts'])} ballots")
    if acked["second ballots"]:
        problems.append(f"{len(acked['second ballots'])} second ballots acknowledged")
    return problems


def pct(ms: list[float], q: int) -> float:
    return statistics.quantiles(ms, n=100)[q - 1] if len(ms) > 1 else ms[0]


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--url", default=os.environ.get("MINYI_BENCH_POSTGRES_URL", DEFAULT_URL))
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--warmup", type=float, default=30, help="seconds of load before measuring")
    ap.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    ap.add_argument("--responses", type=int, default=20000, help="demo responses seeded")
    ap.add_argument("--residents", type=int, default=4)
    ap.add_argument("--evaluators", type=int, default=2)
    ap.add_argument("--deputies", type=int, default=2)
    ap.add_argument("--import-rows", type=int, default=200, help="rows per paper CSV")
    args = ap.parse_args()
    if not args.url.startswith("postgresql"):
        sys.exit("the soak runs on PostgreSQL (--url postgresql+psycopg://...)")
    total = args.warmup + 60 * args.minutes
    t_seed = time.perf_counter()
    cfg = seed(args.url, args.responses, sessions=max(2, int(2.5 * args.minutes) + 2))
    cfg["import_rows"] = args.import_rows
    print(f"seeded in {time.perf_counter() - t_seed:.0f} s: demo with {args.responses} responses, "
          f"{len(cfg['session_ids'])} open voting sessions x {len(cfg['deputies'])} deputies")  # fmt: skip
    tmp = Path(tempfile.mkdtemp(prefix="minyi-soak-"))
    server, base = start_server(args.url, args.workers, tmp / "server.log")
    try:
        pids = worker_pids(server.pid)
        cold = {p: rss_mb(p) for p in pids}
        before = stored(args.url, cfg)
        seats = [(s, d) for s in cfg["session_ids"] for d in range(len(cfg["deputies"]))]
        random.Random(3).shuffle(seats)
        per_role = {
            "resident": [cfg] * args.residents,
            "evaluator": [cfg] * args.evaluators,
            "deputy": [{**cfg, "seats": seats[i :: args.deputies]} for i in range(args.deputies)],
            "admin": [cfg],
        }
        ctx = mp.get_context("fork")
        procs = []
        for n, (role, cfgs) in enumerate(per_role.items()):
            out = str(tmp / f"{role}.json")
            p = ctx.Process(
                target=role_process, args=(role, len(cfgs), base, cfgs, total, out, 100 * n)
            )
            p.start()
            procs.append((p, out))
        started = time.monotonic()
        start_rss: dict[int, float] = {}
        timeline: list[str] = []  # RSS each minute: a plateau or a slope
        while any(proc.is_alive() for proc, _ in procs):
            elapsed = time.monotonic() - started
            if not start_rss and elapsed >= args.warmup:
                analyze(args.url)  # after the warm-up's writes, as in bench/ingest.py
                start_rss = {w: rss_mb(w) for w in pids}
            if elapsed >= 60 * (len(timeline) + 1):
                timeline.append("/".join(f"{rss_mb(w):.0f}" for w in pids))
            time.sleep(1)
        end_rss = {w: rss_mb(w) for w in pids}
        for proc, _ in procs:
            proc.join()
        wall = time.monotonic() - started
        time.sleep(1)  # the writer's last batch
        after = stored(args.url, cfg)
    finally:
        server.terminate()
        server.wait(timeout=60)
    records: dict[str, list[Record]] = defaultdict(list)
    acked: dict[str, list[Any]] = defaultdict(list)
    samples: dict[str, str] = {}
    for _, out in procs:
        data = json.loads(Path(out).read_text())
        for k, v in data["records"].items():
            records[k] += [tuple(x) for x in v]
        for k, v in data["acked"].items():
            acked[k] += v
        samples.update(data["samples"])
    print(f"\n{args.workers} workers, {os.cpu_count()} CPUs, {wall:.0f} s of load "
          f"({args.warmup:.0f} s warm-up); clients: {args.residents} residents, "
          f"{args.evaluators} evaluators, {args.deputies} deputies, 1 admin")  # fmt: skip
    print("\n| kind | requests | per s | 2xx | 5xx | other | client errors | p50 ms | p99 ms |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    fives = 0
    for kind in sorted(records):
        rows = records[kind]
        codes = Counter(s for _, s, _ in rows)
        five = sum(n for s, n in codes.items() if s >= 500)
        fives += five
        ok = sum(n for s, n in codes.items() if 200 <= s < 300)
        other = Counter({s: n for s, n in codes.items() if 300 <= s < 500})
        ms = [m for t, _, m in rows if t >= args.warmup]
        p50, p99 = (f"{statistics.median(ms):.0f}", f"{pct(ms, 99):.0f}") if ms else ("-", "-")
        print(f"| {kind} | {len(rows):,} | {len(rows) / wall:.1f} | {ok:,} | {five} | "
              f"{dict(other) or 0} | {codes[0]} | {p50} | {p99} |")  # fmt: skip
    growth = []
    print("\n| worker | RSS cold MB | after warm-up MB | end MB | growth |")
    print("|---|---:|---:|---:|---:|")
    for w in pids:
        g = (end_rss[w] - start_rss[w]) / start_rss[w]
        growth.append(g)
        print(f"| {w} | {cold[w]:.0f} | {start_rss[w]:.0f} | {end_rss[w]:.0f} | {100 * g:+.1f}% |")
    print(f"RSS (MB) per worker each minute: {', '.join(timeline)}")
    problems = verify(before, after, acked, cfg["campaign_id"])
    print(f"\nacknowledged: {len(acked['responses']):,} responses, {sum(acked['imported rows']):,} "
          f"imported rows in {len(acked['imported rows'])} files, {len(acked['surveys'])} "
          f"surveys, {len(acked['ballots']):,} ballots; stored exactly once: "
          f"{'yes' if not problems else 'NO'}")  # fmt: skip
    for line in problems[:20]:
        print("  " + line)
    log = (tmp / "server.log").read_text(errors="replace")
    for what, sample in sorted(samples.items()):
        print(f"first {what}: {sample}")
    print(f"server log: {log.count('Traceback')} tracebacks, {len(log.splitlines())} lines ({tmp})")
    if fives or problems or any(g >= 0.10 for g in growth):
        sys.exit("soak failed: 5xx, lost or duplicated writes, or memory growth")


if __name__ == "__main__":
    main()
