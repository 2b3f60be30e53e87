"""How the surveys domain plugs into the app: its routers, the public post's fast path, and
the objects it builds when the app starts (form cache, response writer, purge job) and stops at
shutdown.
"""

from __future__ import annotations

from fastapi import FastAPI

from surveys.forms.compiled import FormCache
from surveys.forms.fastpath import ResponsePostFastPath
from surveys.forms.purge_job import PurgeJob
from surveys.forms.writer import ResponseWriter
from surveys.routers import routers


def install(app: FastAPI) -> None:
    """Mount the domain's routers and fast path; register its start-up and shutdown."""
    # Added after the service's own middleware, so it is the outermost: the public response
    # post skips the whole stack when its body is valid.
    app.add_middleware(ResponsePostFastPath, max_bytes=app.state.settings.max_body_bytes)
    for r in routers:
        app.include_router(r)
    app.state.startup_hooks.append(start)
    app.state.shutdown_hooks.append(stop)


def start(app: FastAPI) -> None:
    """Build the form cache and the response writer, and start the purge job (unless the
    setting turns it off), once while the app runs.

    One app may run under two servers at once (tests do that): the objects are shared, built
    by the first start and stopped by the last shutdown.
    """
    runs = getattr(app.state, "surveys_runs", 0)
    app.state.surveys_runs = runs + 1
    if runs == 0:
        app.state.form_cache = FormCache(app.state.engine)
        app.state.response_writer = ResponseWriter(app.state.engine)
        interval = app.state.settings.purge_interval
        app.state.purge_job = None
        if interval > 0:
            job = PurgeJob(
                app.state.engine, interval=interval, on_purged=app.state.form_cache.invalidate
            )
            app.state.purge_job = job
            job.start()


def stop(app: FastAPI) -> None:
    """At the last shutdown, stop the purge job, store what the writer still holds, then
    release it."""
    app.state.surveys_runs -= 1
    if app.state.surveys_runs == 0:
        if app.state.purge_job is not None:
            app.state.purge_job.stop()
            app.state.purge_job = None
        app.state.response_writer.stop()
