"""`minyi analytics rebuild` recomputes the statistics and scores comments."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from click.testing import CliRunner
from fastapi import FastAPI
from sqlalchemy import func, select, text, update
from sqlmodel import Session

from analytics.comments import job, scoring, search, sentiment
from analytics.comments.models import CommentScanMark, CommentSentiment
from service.cli import main
from service.config import get_settings
from surveys.forms.stats import STAT_TABLES
from tests.synthetic import Synthetic


def test_rebuild_command(
    app: FastAPI,
    synthetic: Callable[..., Synthetic],
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    synthetic(n=120, units=3, areas=2, comment_share=0.2)
    engine = app.state.engine
    with engine.connect() as conn:
        before = {t.name: sorted(conn.execute(select(t)).all()) for t in STAT_TABLES}
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM stat_unit"))
        conn.execute(text("UPDATE stat_cell SET n = n + 1"))
    monkeypatch.setenv("MINYI_DATABASE_URL", database_url)
    monkeypatch.setenv("MINYI_SECRET_KEY", "cli-test-secret-0123456789abcdef")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(main, ["analytics", "rebuild"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    with engine.connect() as conn:
        after = {t.name: sorted(conn.execute(select(t)).all()) for t in STAT_TABLES}
        scored = conn.execute(select(func.count()).select_from(CommentSentiment)).scalar_one()
        comments = conn.execute(
            text("SELECT COUNT(*) FROM survey_response WHERE comment IS NOT NULL")
        ).scalar_one()
    assert after == before
    assert scored == comments > 0


def test_rescore_scores_every_comment_again_past_the_scoring_mark(
    app: FastAPI,
    synthetic: Callable[..., Synthetic],
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    syn = synthetic(n=80, units=2, areas=1, comment_share=0.3)
    engine = app.state.engine
    assert job.score_all(engine) > 0  # the app's scoring job, as it runs in the background
    with Session(engine) as s:
        assert search.list_comments(s, campaign_id=syn.campaign_id).pending == 0
    with engine.begin() as conn:
        conn.execute(update(CommentSentiment).values(model="old-model"))
        assert conn.execute(select(func.count()).select_from(CommentScanMark)).scalar_one() == 1
    monkeypatch.setenv("MINYI_DATABASE_URL", database_url)
    monkeypatch.setenv("MINYI_SECRET_KEY", "cli-test-secret-0123456789abcdef")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(
            main, ["analytics", "rebuild", "--campaign", str(syn.campaign_id), "--rescore"]
        )
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    with engine.connect() as conn:
        models = conn.execute(select(CommentSentiment.model).distinct()).scalars().all()
        comments = conn.execute(
            text("SELECT COUNT(*) FROM survey_response WHERE comment IS NOT NULL")
        ).scalar_one()
        scored = conn.execute(select(func.count()).select_from(CommentSentiment)).scalar_one()
    assert models == [sentiment.MODEL_NAME] and scored == comments > 0
    with Session(engine) as s:
        assert scoring.pending_count(s, campaign_id=syn.campaign_id) == 0
