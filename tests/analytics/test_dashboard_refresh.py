"""The dashboard's background refreshes in a child process (``MINYI_DASHBOARD_REFRESH``): the
bundle a child computes is the one the worker would have, and new responses show through it."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session

from analytics.dashboard import bundle
from analytics.dashboard.cache import StaleWhileRevalidate
from tests.factories import headers_for
from tests.synthetic import Synthetic, add_responses


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _bundle(client: TestClient, h: dict[str, str], cid: int) -> dict[str, Any]:
    r = client.get("/api/v1/dashboard", params={"campaign_id": cid}, headers=h)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    body.pop("computed_at")
    return body


def _after_refresh(cache: StaleWhileRevalidate, timeout: float = 60) -> None:
    done = threading.Event()
    while cache._refreshing and not done.wait(0.05):
        timeout -= 0.05
        assert timeout > 0, "the refresh did not end"


def test_a_stale_bundle_is_refreshed_in_a_child_process_with_the_same_figures(
    make_app: Callable[..., FastAPI], synthetic: Callable[..., Synthetic]
) -> None:
    app = make_app()  # dashboard_refresh="process", the default
    clock = Clock()
    app.state.dashboard_cache = cache = StaleWhileRevalidate(fresh=5, max_age=600, clock=clock)
    offload = app.state.dashboard_offload
    syn = synthetic(n=300, units=4, areas=2, seed=21, comment_share=0.0)
    with TestClient(app) as client:
        with Session(app.state.engine) as s:
            ev = headers_for(client, s, "evaluator")
        first = _bundle(client, ev, syn.campaign_id)  # nothing cached: computed in the request
        assert offload.calls == 0
        add_responses(app.state.engine, syn, n=40, seed=22, comment_share=0.0)
        clock.now = 10  # stale: served at once, refreshed in the child
        assert _bundle(client, ev, syn.campaign_id) == first
        _after_refresh(cache)
        assert offload.calls == 1 and offload.pid not in (None, os.getpid())
        refreshed = _bundle(client, ev, syn.campaign_id)
        assert refreshed["headline"]["responses"] > first["headline"]["responses"]
        # What the worker computes itself from the same rows, figure by figure.
        cache.clear()
        here = _bundle(client, ev, syn.campaign_id)
        assert json.dumps(refreshed, sort_keys=True) == json.dumps(here, sort_keys=True)
    assert offload.pid is None  # stopped with the app


def test_the_thread_setting_refreshes_in_the_worker(
    make_app: Callable[..., FastAPI], synthetic: Callable[..., Synthetic]
) -> None:
    app = make_app(dashboard_refresh="thread")
    assert app.state.dashboard_offload is None
    clock = Clock()
    app.state.dashboard_cache = cache = StaleWhileRevalidate(fresh=5, max_age=600, clock=clock)
    syn = synthetic(n=120, units=3, areas=1, seed=23, comment_share=0.0)
    with TestClient(app) as client:
        with Session(app.state.engine) as s:
            ev = headers_for(client, s, "evaluator")
        first = _bundle(client, ev, syn.campaign_id)
        add_responses(app.state.engine, syn, n=20, seed=24, comment_share=0.0)
        clock.now = 10
        _bundle(client, ev, syn.campaign_id)
        _after_refresh(cache)
        after = _bundle(client, ev, syn.campaign_id)
        assert after["headline"]["responses"] > first["headline"]["responses"]


def test_a_large_campaigns_first_bundle_is_computed_in_the_child_too(
    make_app: Callable[..., FastAPI],
    synthetic: Callable[..., Synthetic],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(bundle, "APART_ROWS", 100)
    app = make_app()
    offload = app.state.dashboard_offload
    syn = synthetic(n=150, units=3, areas=1, seed=25, comment_share=0.0)
    small = synthetic(n=40, units=2, areas=1, seed=26, comment_share=0.0)
    with TestClient(app) as client:
        with Session(app.state.engine) as s:
            ev = headers_for(client, s, "evaluator")
        _bundle(client, ev, small.campaign_id)  # under APART_ROWS: here
        assert offload.calls == 0
        apart = _bundle(client, ev, syn.campaign_id)
        assert offload.calls == 1
        # A child that fails: the request is answered from the worker, with the same bundle.
        monkeypatch.setattr(bundle, "bundle_apart", _dies)
        app.state.dashboard_cache.clear()
        assert _bundle(client, ev, syn.campaign_id) == apart
        assert offload.calls == 2


def _dies(*_args: Any) -> str:
    os._exit(3)
