"""What the dashboard bundle costs: bounded work per panel, shared counts, off the event loop.

At ten million responses the bundle took 48 s and uvicorn's supervisor killed the worker
computing it (issue 22); these tests pin the parts that made it grow.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session

import analytics.comments.themes as themes_module
import analytics.dashboard.comments as dashboard_comments
from analytics.dashboard import bundle, router
from analytics.dashboard.service import Dashboard
from surveys.forms.models import Campaign
from tests.factories import headers_for
from tests.synthetic import Synthetic


@pytest.fixture
def syn(synthetic: Callable[..., Synthetic]) -> Synthetic:
    # Comments in every unit (unscored: the themes are read from the text).
    return synthetic(n=400, units=6, areas=3, seed=7, comment_share=0.6)


def dashboard(app: FastAPI, syn: Synthetic, **kw: Any) -> tuple[Session, Dashboard]:
    s = Session(app.state.engine)
    return s, Dashboard(s, campaign=s.get(Campaign, syn.campaign_id), **kw)


def test_district_themes_read_one_units_quota_shared_by_the_units(
    app: FastAPI, syn: Synthetic, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 100 units at the full quota each sent 100,000 comments through jieba (20-35 s).
    monkeypatch.setattr(dashboard_comments, "THEME_COMMENTS", 30)
    read: list[int] = []
    real = themes_module.theme_rows

    def spy(comments: list[tuple[str, str | None]], **kw: Any) -> list[dict[str, Any]]:
        read.append(len(comments))
        return real(comments, **kw)

    monkeypatch.setattr(themes_module, "theme_rows", spy)
    s, dash = dashboard(app, syn, min_group_size=3)
    with s:
        assert dash.theme_comments == 5  # 30 over the 6 units shown
        dash.theme_rows()
        assert read and sum(read) <= 30
        read.clear()
        one = Dashboard(s, campaign=dash.campaign, min_group_size=3)
        one.filters = type(dash.filters)(unit_code=syn.unit_codes[0])
        assert one.theme_comments == 30  # one unit: its whole quota
        one.theme_rows()
        assert read and read[0] <= 30


def test_the_unscored_comments_are_counted_once_per_bundle(
    app: FastAPI, syn: Synthetic, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    real = dashboard_comments.pending_count

    def spy(session: Session, *, campaign_id: int) -> int:
        calls.append(campaign_id)
        return real(session, campaign_id=campaign_id)

    monkeypatch.setattr(dashboard_comments, "pending_count", spy)
    s, dash = dashboard(app, syn)
    with s:
        text = bundle.bundle_json(dash, dash.default_figures())
        assert '"themes"' in text and '"aspects"' in text
    assert len(calls) <= 1
    # The count is the one the comment services report.
    assert dash.pending == dash.aspect_result["pending"] > 0


def test_the_bundle_is_computed_off_the_event_loop(
    client: TestClient, session: Session, syn: Synthetic, monkeypatch: pytest.MonkeyPatch
) -> None:
    # uvicorn's supervisor pings each worker through a pipe answered by a thread of its own
    # and kills a worker silent for 5 s. A sync route runs in the thread pool, so the loop
    # keeps serving while a bundle is computed; the ping thread then only needs the GIL,
    # which Python hands over every few milliseconds unless one C call keeps it.
    assert not inspect.iscoroutinefunction(router.read_dashboard)
    where: list[bool] = []
    real = bundle.bundle_json

    def spy(dash: Dashboard, names: Any) -> str:
        try:
            asyncio.get_running_loop()
            where.append(True)
        except RuntimeError:
            where.append(False)
        return real(dash, names)

    monkeypatch.setattr(bundle, "bundle_json", spy)
    h = headers_for(client, session, "evaluator")
    params = {"campaign_id": syn.campaign_id, "names": "responses,themes"}
    r = client.get("/api/v1/dashboard", params=params, headers=h)
    assert r.status_code == 200, r.text
    assert where == [False]
