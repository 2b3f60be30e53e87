"""Where the dashboard bundle's time goes: each part timed in one process.

Usage (from the repository root), on a database made by ``scale_10m_load.generate``:

    .venv/bin/python bench/dashboard_parts.py --url postgresql+psycopg://.../DB \
        [--campaign ID] [--week-weighted] [--runs 2]

The columnar copy is loaded first (``cube.refresh``, timed apart: it is what the first view
after a start pays). Then, per run, a fresh ``Dashboard`` (its rows are computed once per
dashboard and shared between figures) computes the headline and every figure in the bundle's
order; each line is the time of that part given the parts before it, so the sum is the
bundle. ``alone`` times each figure again on a dashboard of its own (what it costs without
the rows the others share).

A ticker thread wakes every 10 ms and records its longest wait. That is what uvicorn's
supervisor needs from a worker: its ping thread must get the GIL within 5 s to answer, so a
part that holds the GIL for seconds in one C call (a fetch of millions of rows converted in
C, a big NumPy call) shows as a long ``stall``.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MINYI_ANALYTICS_DIR", "/tmp/minyi-dashboard-parts")

from sqlalchemy import func, select  # noqa: E402
from sqlmodel import Session  # noqa: E402

from analytics.dashboard.bundle import bundle_json, figure_json  # noqa: E402
from analytics.dashboard.options import DashFilters  # noqa: E402
from analytics.dashboard.service import Dashboard  # noqa: E402
from analytics.indicators import cube  # noqa: E402
from service.db import make_engine  # noqa: E402
from surveys.forms.models import Campaign, SurveyResponse  # noqa: E402


class Ticker:
    """A thread that wakes every 10 ms; ``take()`` returns its longest wait since the last."""

    def __init__(self) -> None:
        self.worst = 0.0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        last = time.perf_counter()
        while not self.stop.wait(0.01):
            now = time.perf_counter()
            self.worst = max(self.worst, now - last - 0.01)
            last = now

    def take(self) -> float:
        worst, self.worst = self.worst, 0.0
        return worst


def timed(ticker: Ticker, label: str, fn: Callable[[], Any]) -> float:
    ticker.take()
    t0 = time.perf_counter()
    fn()
    dt = time.perf_counter() - t0
    print(f"  {label:<22} {dt * 1000:9.0f} ms   stall {ticker.take() * 1000:7.0f} ms", flush=True)
    return dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--campaign", type=int)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--week-weighted", action="store_true")
    ap.add_argument("--no-alone", action="store_true")
    args = ap.parse_args()
    engine = make_engine(args.url)
    ticker = Ticker()
    filters = DashFilters(period="week", weighted=True) if args.week_weighted else DashFilters()
    with Session(engine) as s:
        cid = (
            args.campaign
            or s.execute(
                select(SurveyResponse.campaign_id)
                .group_by(SurveyResponse.campaign_id)
                .order_by(func.count().desc())
                .limit(1)
            ).scalar_one()
        )
        print(f"campaign {cid}, filters {filters}")
        timed(ticker, "cube.refresh (start)", lambda: cube.refresh(s, campaign_id=cid))

    def dash(s: Session) -> Dashboard:
        return Dashboard(s, campaign=s.get(Campaign, cid), filters=filters)

    for run in range(args.runs):
        print(f"run {run + 1}: the bundle's parts in its order")
        total = 0.0
        with Session(engine) as s:
            d = dash(s)
            names = d.default_figures()
            total += timed(ticker, "headline", d.headline)
            for n in names:
                total += timed(ticker, n, lambda d=d, n=n: figure_json(d, n))
        print(f"  {'sum':<22} {total * 1000:9.0f} ms")
        with Session(engine) as s:
            timed(
                ticker, "bundle_json (whole)", lambda s=s, names=names: bundle_json(dash(s), names)
            )
    if not args.no_alone:
        print("alone: each part on a dashboard of its own")
        with Session(engine) as s:
            timed(ticker, "headline", lambda: dash(s).headline())
            for n in names:
                timed(ticker, n, lambda n=n: figure_json(dash(s), n))
    ticker.stop.set()


if __name__ == "__main__":
    main()
