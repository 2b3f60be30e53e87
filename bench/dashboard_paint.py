"""Dashboard first paint: time until every chart of /dashboard is drawn, in Chromium.

Usage (from the repository root):

    .venv/bin/python bench/dashboard_paint.py --db /tmp/minyi-demo-1m.db --responses 1000000

Builds the demo district into the SQLite file with ``minyi demo --responses N`` when the file
does not exist yet (``--synthetic`` fills it with ``tests.synthetic`` instead, for when
the demo has no survey step), serves it with ``minyi serve`` (one worker, as the README
starts it), logs in as the demo evaluator and opens ``/dashboard`` on the campaign with the
most responses in Debian's Chromium:

- cold: a fresh browser context each time (empty cache: plotly.js is fetched and parsed);
- warm: the same context again (plotly.js from the cache), as an evaluator moving around.

"First paint of all charts" is ``performance.now()`` when the last chart has been drawn
(``dashboard.js`` writes it into ``body[data-charts-ready]``), so it includes the server
computing every figure, the transfer, plotly.js and the drawing. The server's own share is
the navigation's responseEnd - requestStart. A filter change (area) is timed too.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MINYI = str(Path(sys.executable).with_name("minyi"))
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]


def env_for(db: Path) -> dict[str, str]:
    return {
        **os.environ,
        "MINYI_DATABASE_URL": f"sqlite:///{db}",
        "MINYI_SECRET_KEY_FILE": str(db.with_suffix(".secret")),
        "MINYI_RATE_LIMIT": "off",
    }


def build(db: Path, responses: int, synthetic: bool) -> None:
    """Fill a new database: the demo district, or synthetic responses."""
    started = time.monotonic()
    if synthetic:
        from service.db import make_engine, upgrade
        from service.demo import accounts
        from service.progress import progress
        from tests.synthetic import add_responses, make_campaign

        url = f"sqlite:///{db}"
        upgrade(url)
        engine = make_engine(url)
        import random

        accounts(engine=engine, rng=random.Random(7), responses=responses)
        syn = make_campaign(engine, units=96, areas=40, prefix="bench")
        with progress("responses", responses) as p:
            add_responses(engine, syn, n=responses, seed=7, chunk=20000, progress=p.set)
        engine.dispose()
    else:
        subprocess.run([MINYI, "demo", "--responses", str(responses)], env=env_for(db), check=True)
    print(f"built {db} in {time.monotonic() - started:.0f} s", file=sys.stderr)


def largest_campaign(db: Path) -> tuple[int, int]:
    """The campaign with the most responses, and how many it has."""
    import sqlite3

    with sqlite3.connect(db) as conn:
        row = conn.execute(
            "SELECT campaign_id, COUNT(*) FROM survey_response GROUP BY campaign_id "
            "ORDER BY COUNT(*) DESC LIMIT 1"
        ).fetchone()
    return int(row[0]), int(row[1])


def score_comments(db: Path) -> None:
    """Store the sentiment of every comment, scoring each distinct text once (the same model
    and labels as ``minyi analytics rebuild``, which scores them one by one)."""
    from sqlalchemy import text as sql

    from analytics.comments import sentiment
    from service.db import make_engine

    started = time.monotonic()
    engine = make_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        pending = [
            r[0]
            for r in conn.execute(
                sql(
                    "SELECT DISTINCT r.comment FROM survey_response r "
                    "LEFT JOIN comment_sentiment c ON c.response_id = r.id "
                    "WHERE c.response_id IS NULL AND r.comment IS NOT NULL AND r.comment != ''"
                )
            )
        ]
        results = sentiment.sentiment_model().classify(pending)
        for comment, (label, score) in zip(pending, results, strict=True):
            conn.execute(
                sql(
                    "INSERT INTO comment_sentiment (response_id, label, score, model, created_at) "
                    "SELECT r.id, :label, :score, :model, CURRENT_TIMESTAMP "
                    "FROM survey_response r LEFT JOIN comment_sentiment c ON c.response_id = r.id "
                    "WHERE c.response_id IS NULL AND r.comment = :comment"
                ),
                {"label": label, "score": score, "model": sentiment.MODEL_NAME, "comment": comment},
            )
    engine.dispose()
    print(
        f"scored {len(pending)} distinct comments in {time.monotonic() - started:.0f} s",
        file=sys.stderr,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(db: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [MINYI, "serve", "--port", str(port)],
        env=env_for(db),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=2):
                return proc, base
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit("the server did not start")


def token(base: str, username: str, password: str) -> str:
    import json
    from urllib.parse import urlencode

    data = urlencode({"username": username, "password": password}).encode()
    with urllib.request.urlopen(base + "/api/v1/auth/token", data=data, timeout=30) as r:
        return str(json.loads(r.read())["access_token"])


def paint(page: Any, url: str) -> tuple[float, float]:
    """(all charts drawn, server response) in ms for one navigation."""
    page.goto(url)
    page.wait_for_selector("body[data-charts-ready]", timeout=600_000)
    drawn = float(page.get_attribute("body", "data-charts-ready") or "nan")
    server = page.evaluate(
        "() => { const n = performance.getEntriesByType('navigation')[0];"
        " return n.responseEnd - n.requestStart; }"
    )
    return drawn, float(server)


def summary(values: list[float]) -> str:
    values = sorted(values)
    return (
        f"median {statistics.median(values):.0f} ms, min {values[0]:.0f}, "
        f"max {values[-1]:.0f} (n={len(values)})"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--db", type=Path, default=Path("/tmp/minyi-demo-1m.db"))
    ap.add_argument("--responses", type=int, default=1_000_000)
    ap.add_argument("--synthetic", action="store_true", help="synthetic data, not the demo")
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--screenshot", type=Path, default=None, help="save a PNG of the dashboard")
    ap.add_argument("--lang", default="zh-CN")
    args = ap.parse_args()

    if not args.db.exists():
        build(args.db, args.responses, args.synthetic)
    # Also for a database built by hand with `minyi demo`: otherwise every view would score
    # comments inline, and the figures would measure the sentiment model.
    score_comments(args.db)
    from service.demo import DEMO_PASSWORDS

    proc, base = serve(args.db)
    try:
        raw = token(base, "evaluator", DEMO_PASSWORDS["evaluator"])
        from playwright.sync_api import sync_playwright

        cid, n = largest_campaign(args.db)
        print(f"campaign {cid}: {n:,} responses", flush=True)
        # The campaign to measure is named: the page opens the newest one by default (in the
        # demo, a small invitation campaign).
        url = f"{base}/dashboard?campaign_id={cid}&lang={args.lang}"
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)

            def context() -> Any:
                ctx = browser.new_context(
                    viewport={"width": args.width, "height": 900}, locale=args.lang
                )
                ctx.add_cookies([{"name": "minyi_session", "value": raw, "url": base}])
                return ctx

            # The first view after start: models load and every figure is computed in the
            # request. Later views get the bundle from the server's cache (refreshed in the
            # background), as an evaluator does on a dashboard in use.
            warmup = context()
            first = paint(warmup.new_page(), url)[0]
            warmup.close()
            cold: list[float] = []
            server: list[float] = []
            for _ in range(args.runs):
                ctx = context()
                drawn, srv = paint(ctx.new_page(), url)
                cold.append(drawn)
                server.append(srv)
                ctx.close()
            print(f"cold: {summary(cold)}", flush=True)
            ctx = context()
            page = ctx.new_page()
            paint(page, url)
            warm = [paint(page, url)[0] for _ in range(args.runs)]
            # A filter change: the bundle is refetched and every chart redrawn.
            areas = page.eval_on_selector_all("#f-area option", "els => els.map(e => e.value)")
            filt: list[float] = []
            for code in [a for a in areas if a][: args.runs]:
                started = time.monotonic()
                with page.expect_response(lambda r: "/api/v1/dashboard?" in r.url, timeout=300_000):
                    page.select_option("#f-area", code)
                page.wait_for_function(
                    "() => document.getElementById('dash-status').textContent === ''",
                    timeout=300_000,
                )
                filt.append((time.monotonic() - started) * 1000)
            charts = page.eval_on_selector_all(".plot[data-figure]", "els => els.length")
            if args.screenshot:
                page.select_option("#f-area", "")
                page.wait_for_function(
                    "() => document.getElementById('dash-status').textContent === ''",
                    timeout=300_000,
                )
                # A taller window, so the picture shows the ranking, profile and trends too.
                page.set_viewport_size({"width": args.width, "height": 1600})
                page.wait_for_timeout(1500)  # responsive charts redraw to the new size
                page.screenshot(path=str(args.screenshot), full_page=False)
            ctx.close()
            browser.close()
        print(f"database: {args.db} ({args.db.stat().st_size / 1e6:.0f} MB)")
        print(f"charts on the page: {charts}")
        print(f"first paint of all charts, cold browser cache: {summary(cold)}")
        print(f"  of which the server's HTML response: {summary(server)}")
        print(f"first paint of all charts, warm browser cache: {summary(warm)}")
        print(f"the first view after the server started (computed in the request): {first:.0f} ms")
        print(f"filter change (area, not cached yet) until every chart is redrawn: {summary(filt)}")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


if __name__ == "__main__":
    main()
