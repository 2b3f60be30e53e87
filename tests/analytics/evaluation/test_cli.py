"""``minyi evaluation-reports CAMPAIGN --out DIR`` writes each subject's report, audited; a
running evaluation is refused with the reason."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from fastapi import FastAPI
from sqlmodel import Session, col, select

from service.audit import AuditEntry
from tests.analytics.evaluation import world

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
        [MINYI, "evaluation-reports", *args], env=env, capture_output=True, text=True, timeout=300
    )


def test_reports_of_every_subject(app: FastAPI, tmp_path: Path) -> None:
    w = world.build(app.state.engine)
    done = _run(app, str(w.campaign_id), "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == sorted(f"evaluation-{w.campaign_id}-{sid}.html" for sid in w.subject_ids)
    leader = (tmp_path / f"evaluation-{w.campaign_id}-{w.subject_ids[2]}.html").read_text("utf-8")
    assert "张明" in leader and "<script" not in leader
    with Session(app.state.engine) as s:
        entries = s.exec(
            select(AuditEntry)
            .where(AuditEntry.action == "evaluation.report")
            .order_by(col(AuditEntry.id))
        ).all()
    assert [(e.actor, json.loads(e.detail)["subjects"]) for e in entries] == [
        ("cli", [sid]) for sid in w.subject_ids
    ]
    running = world.build(app.state.engine, closed=False, prefix="op")
    refused = _run(app, str(running.campaign_id), "--out", str(tmp_path / "x"))
    assert refused.returncode == 1 and "once it closes" in refused.stderr
