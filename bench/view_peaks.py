"""What each view's first request costs one process in memory, on the ten-million database.

Usage (from the repository root, after ``bench/scale_10m.py --keep``):

    .venv/bin/python bench/view_peaks.py [--url URL] [VIEW-NAME-PART ...]

Builds the app in this process (dashboard refreshes in a thread, so everything is counted
here), maps the column files ``scale_10m.py`` left under ``/tmp/minyi-scale-columns`` and asks
for every view of ``scale_10m.py`` twice in order (or those whose name holds one of the
arguments). For each request: its time, the process's RSS before it and the highest RSS
during it (the kernel's high-water mark, reset before each request), and the highest memory
numpy and Python allocated during it above what they held before (``tracemalloc``). RSS
counts the mapped column pages a request touches for the first time; the traced peak does
not, so it is the request's own temporaries and what it keeps.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MINYI_ANALYTICS_DIR", "/tmp/minyi-scale-columns")

from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import text  # noqa: E402

from bench.scale_10m import DEFAULT_URL, SECRET, _views, token  # noqa: E402
from service.config import Settings  # noqa: E402
from service.db import make_engine  # noqa: E402
from service.main import create_app  # noqa: E402


def status(field: str) -> float:
    """A field of /proc/self/status in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default=DEFAULT_URL)
    ap.add_argument("only", nargs="*", help="views whose name holds one of these")
    args = ap.parse_args()
    engine = make_engine(args.url)
    with engine.connect() as conn:
        cid = conn.execute(text("SELECT MIN(id) FROM campaign")).scalar_one()
    engine.dispose()
    settings = Settings(
        database_url=args.url,
        secret_key=SECRET,
        environment="production",
        rate_limit="off",
        migrate_on_start=False,
        comment_scoring_interval=0,
        dashboard_refresh="thread",
    )
    auth = {"Authorization": f"Bearer {token(args.url)}"}
    with TestClient(create_app(settings)) as client:
        for name, path, params in _views(cid):
            if args.only and not any(o in name for o in args.only):
                continue
            for attempt in (1, 2):
                Path("/proc/self/clear_refs").write_text("5")  # reset the high-water mark
                tracemalloc.start()
                before = status("VmRSS")
                t = time.perf_counter()
                r = client.get(path, params=params, headers=auth)
                ms = (time.perf_counter() - t) * 1000
                traced = tracemalloc.get_traced_memory()[1] / 2**20
                tracemalloc.stop()
                peak = status("VmHWM")
                print(
                    f"{name:<42} #{attempt} {r.status_code} {ms:7.0f} ms  RSS {before:4.0f} -> "
                    f"peak {peak:4.0f} (+{peak - before:3.0f})  traced peak {traced:6.1f} MB",
                    flush=True,
                )


if __name__ == "__main__":
    main()
