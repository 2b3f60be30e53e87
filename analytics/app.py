"""How the analytics domain plugs into the app: its routes, and the comment-scoring job it
starts when the app starts and stops at shutdown."""

from __future__ import annotations

from fastapi import FastAPI

from analytics.comments.job import ScoringJob
from analytics.dashboard.cache import StaleWhileRevalidate
from analytics.router import router
from service.offload import Offload


def install(app: FastAPI) -> None:
    """Mount the analytics routes and build the dashboard cache; register the scoring job's
    start and stop."""
    app.include_router(router)
    app.state.dashboard_cache = StaleWhileRevalidate(shared=app.state.shared_state)
    app.state.dashboard_offload = refresh_offload(app)
    app.state.startup_hooks.append(start)
    app.state.shutdown_hooks.append(stop)


def start(app: FastAPI) -> None:
    """Start scoring comments in the background (unless the setting turns it off).

    One app may run under two servers at once (tests do that): one job, started by the first
    start and stopped by the last shutdown.
    """
    runs = getattr(app.state, "analytics_runs", 0)
    app.state.analytics_runs = runs + 1
    interval = app.state.settings.comment_scoring_interval
    if runs == 0 and interval > 0:
        job = ScoringJob(app.state.engine, interval=interval, busy=lambda: _storing(app))
        app.state.comment_scoring = job
        job.start()


def refresh_offload(app: FastAPI) -> Offload | None:
    """The child process computing the dashboard's background refreshes, when the setting
    asks for one and another process can open the analytics database."""
    url = app.state.analytics_engine.url
    in_memory = url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")
    if app.state.settings.dashboard_refresh != "process" or in_memory:
        return None
    return Offload(name="dashboard-refresh")


def _storing(app: FastAPI) -> bool:
    """Responses are being stored now (the surveys domain's writer, when it runs)."""
    writer = getattr(app.state, "response_writer", None)
    return writer is not None and writer.busy()


def stop(app: FastAPI) -> None:
    """At the last shutdown, stop the scoring job after its current batch."""
    app.state.analytics_runs -= 1
    job = getattr(app.state, "comment_scoring", None)
    if app.state.analytics_runs == 0 and job is not None:
        job.stop()
        app.state.comment_scoring = None
    if app.state.analytics_runs == 0 and app.state.dashboard_offload is not None:
        app.state.dashboard_offload.close()
