"""/healthz latency while an admin imports: idle, during a 150,000-row XLSForm workbook (parsed
in a child process, stopped at the row limit) and during a CSV import of responses.

    .venv/bin/python bench/upload_bench.py [--rows 150000] [--responses 20000]
    .venv/bin/python bench/upload_bench.py --url postgresql+psycopg://postgres@127.0.0.1:5432/NAME

The database at --url is emptied first (default: a temporary SQLite file). One uvicorn worker on
127.0.0.1; /healthz is polled every 20 ms over one kept-alive connection. Under 1 minute.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

import httpx
from openpyxl import Workbook
from sqlalchemy import create_engine, text
from sqlmodel import Session

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from service.auth import hash_password, issue_token  # noqa: E402
from service.config import Settings  # noqa: E402
from service.db import make_engine, upgrade, utcnow  # noqa: E402
from service.models import Role, User  # noqa: E402
from surveys.units.models import Unit, UnitKind  # noqa: E402

SECRET = "bench-secret-key-0123456789abcdef0123456789"
PORT = 18470


def reset(url: str) -> None:
    if url.startswith("postgresql"):
        engine = create_engine(url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    upgrade(url)


def seed(url: str) -> dict[str, str]:
    """A unit and an admin; the admin's bearer headers."""
    engine = make_engine(url)
    settings = Settings(database_url=url, secret_key=SECRET, environment="test")
    with Session(engine) as s:
        s.add(Unit(code="civil", name="民政局", kind=UnitKind.department))
        admin = User(username="admin", role=Role.admin, password_hash=hash_password("bench-pw-123"))
        s.add(admin)
        s.flush()
        raw = issue_token(s, user=admin, settings=settings)[0]
        s.commit()
    engine.dispose()
    return {"Authorization": f"Bearer {raw}"}


def workbook(rows: int) -> bytes:
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("survey")
    ws.append(["type", "name", "label::zh", "label::en"])
    for i in range(rows):
        ws.append(["text", f"q{i}", f"问题{i}", f"Question {i}"])
    st = wb.create_sheet("settings")
    st.append(["form_title"])
    st.append(["问卷"])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def poll_during(base: str, job: threading.Thread | None, seconds: float = 3.0) -> list[float]:
    """/healthz latencies (ms) while job runs (or for seconds when there is no job)."""
    out: list[float] = []
    with httpx.Client(base_url=base, timeout=60) as c:
        c.get("/healthz")
        end = time.monotonic() + seconds
        if job is not None:
            job.start()
        while (job.is_alive() if job is not None else time.monotonic() < end) or not out:
            t0 = time.perf_counter()
            assert c.get("/healthz").status_code == 200
            out.append((time.perf_counter() - t0) * 1000)
            time.sleep(0.02)
    if job is not None:
        job.join()
    return out


def summary(name: str, ms: list[float], extra: str = "") -> None:
    q = statistics.quantiles(ms, n=100) if len(ms) > 1 else ms * 99
    print(
        f"{name:<34} polls {len(ms):>4}  p50 {statistics.median(ms):6.1f} ms  "
        f"p99 {q[98]:6.1f} ms  max {max(ms):6.1f} ms  {extra}"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default="")
    ap.add_argument("--rows", type=int, default=150_000)
    ap.add_argument("--responses", type=int, default=20_000)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="upload-bench-"))
    url = args.url or f"sqlite:///{tmp / 'bench.db'}"
    reset(url)
    admin = seed(url)
    env = dict(
        os.environ,
        MINYI_DATABASE_URL=url,
        MINYI_SECRET_KEY=SECRET,
        MINYI_RATE_LIMIT="off",
        MINYI_ENVIRONMENT="test",
        MINYI_MIGRATE_ON_START="false",
    )
    cmd = [sys.executable, "-m", "uvicorn", "service.main:create_app", "--factory"]
    cmd += ["--host", "127.0.0.1", "--port", str(PORT), "--log-level", "warning"]
    server = subprocess.Popen(cmd, cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{PORT}"
    try:
        for _ in range(300):
            try:
                if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        print(f"backend {url.split(':')[0]}, 1 worker, {os.cpu_count()} cores")
        summary("idle", poll_during(base, None))

        data = workbook(args.rows)
        result: dict[str, object] = {}

        def post_workbook() -> None:
            t0 = time.perf_counter()
            files = {"file": ("big.xlsx", data, "application/octet-stream")}
            r = httpx.post(base + "/api/v1/surveys/import", files=files, headers=admin, timeout=300)
            result.update(status=r.status_code, s=time.perf_counter() - t0)

        ms = poll_during(base, threading.Thread(target=post_workbook))
        summary(
            f"XLSForm {args.rows:,} rows ({len(data) / 1e6:.1f} MB)",
            ms,
            f"-> {result['status']} in {result['s']:.2f} s",
        )

        survey = {
            "title": "基准",
            "questions": [
                {"key": "q1", "type": "rating", "label": "评分", "scale_min": 1, "scale_max": 5}
            ],
        }
        sid = httpx.post(base + "/api/v1/surveys", json=survey, headers=admin).json()["id"]
        now = utcnow()
        campaign = {
            "survey_id": sid,
            "title": "基准",
            "opens_at": (now - timedelta(days=1)).isoformat(),
            "closes_at": (now + timedelta(days=30)).isoformat(),
            "unit_codes": ["civil"],
            "access": "open",
        }
        r = httpx.post(base + "/api/v1/campaigns", json=campaign, headers=admin)
        cid = r.json()["id"]
        csv = "unit_code,q1\n" + "".join(f"civil,{1 + i % 5}\n" for i in range(args.responses))

        def post_csv() -> None:
            t0 = time.perf_counter()
            files = {"file": ("r.csv", csv.encode(), "text/csv")}
            r = httpx.post(
                f"{base}/api/v1/campaigns/{cid}/responses/import",
                files=files,
                headers=admin,
                timeout=300,
            )
            result.update(status=r.status_code, s=time.perf_counter() - t0)

        ms = poll_during(base, threading.Thread(target=post_csv))
        summary(
            f"responses CSV {args.responses:,} rows",
            ms,
            f"-> {result['status']} in {result['s']:.2f} s",
        )
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
