"""``minyi report CAMPAIGN --out FILE.html`` writes the same report as the download."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from fastapi import FastAPI

from tests.synthetic import Synthetic

MINYI = str(Path(sys.executable).with_name("minyi"))


def _run(app: FastAPI, *args: str) -> subprocess.CompletedProcess[str]:
    settings = app.state.settings
    env = {
        **os.environ,
        "MINYI_DATABASE_URL": settings.database_url,
        "MINYI_SECRET_KEY": settings.secret_key,
        "MINYI_ENVIRONMENT": "test",
    }
    return subprocess.run(
        [MINYI, "report", *args], env=env, capture_output=True, text=True, timeout=300
    )


def test_report_command_writes_a_self_contained_file(
    app: FastAPI, synthetic: Callable[..., Synthetic], tmp_path: Path
) -> None:
    syn = synthetic(n=300, units=4, areas=2, comment_share=0.0)
    out = tmp_path / "report.html"
    done = _run(app, str(syn.campaign_id), "--out", str(out), "--lang", "en")
    assert done.returncode == 0, done.stderr
    html = out.read_text(encoding="utf-8")
    assert html.startswith("<!doctype html>") and 'lang="en"' in html
    assert "plotly.js v" in html and "<script src" not in html
    assert "Reputation index ranking" in html and "综合评价" in html
    assert "Wrote" in done.stdout


def test_report_command_refuses_an_unknown_campaign(app: FastAPI, tmp_path: Path) -> None:
    done = _run(app, "424242", "--out", str(tmp_path / "x.html"))
    assert done.returncode == 1
    assert "no campaign with id 424242" in done.stderr
    assert not (tmp_path / "x.html").exists()
