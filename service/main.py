"""The app factory: settings, database, migrations, routers, pages, static files."""

from __future__ import annotations

import functools
import gzip
import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import plotly
from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text

from service import __version__
from service.config import Settings, get_settings
from service.db import make_engine, upgrade
from service.errors import (
    RETRY_AFTER_DOWN,
    database_fault,
    install_error_handlers,
    set_html_renderer,
)
from service.logs import install_log_filters
from service.memory import Trimmer, limit_arenas
from service.middleware import BodyLimit, SecurityHeaders
from service.ratelimit import RateLimiter
from service.shared_state import SharedState

FRONTEND_STATIC = Path(__file__).resolve().parent.parent / "frontend" / "static"


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the application for the given settings (the process settings by default)."""
    settings = settings or get_settings()
    install_log_filters()
    if settings.migrate_on_start:
        upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    analytics_engine = (
        make_engine(settings.analytics_database_url) if settings.analytics_database_url else engine
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        limit_arenas()  # before the thread pool starts its threads (see service.memory)
        trimmer = Trimmer().start()
        for hook in app.state.startup_hooks:
            hook(app)
        yield
        for hook in app.state.shutdown_hooks:
            hook(app)
        trimmer.stop()
        engine.dispose()
        analytics_engine.dispose()
        shared.close()

    app = FastAPI(
        title="Minyi 民意",
        version=__version__,
        description="Public feedback and reputation service for local government.",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.analytics_engine = analytics_engine
    # Rate limits and caches: in this process, or in Redis for every replica (MINYI_REDIS_URL).
    app.state.shared_state = shared = SharedState.from_settings(settings)
    app.state.rate_limiter = RateLimiter.from_setting(settings.rate_limit, shared=shared)
    app.state.startup_hooks = []
    app.state.shutdown_hooks = []
    install_error_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(SecurityHeaders)
    # Routes are matched in order: the domains' API first (the public response post leads),
    # then the service's own routes and the static files. The surveys domain also adds its
    # fast path for the public response post, outside the middleware above.
    _include_routers(app)

    @app.get("/healthz", tags=["service"])
    def healthz() -> JSONResponse:
        """Liveness and database check: 503 naming what is down when the database is."""
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:
            reason = database_fault(exc)
            if not reason:
                raise
            return JSONResponse(
                {"status": "unavailable", "down": ["database"], "database": reason},
                status_code=503,
                headers={"Retry-After": str(RETRY_AFTER_DOWN)},
            )
        # Redis down is not a failure: limits and caches fall back to each process.
        body = {"status": "ok", "database": engine.dialect.name}
        if shared.shared:
            body["shared_state"] = shared.status()
        return JSONResponse(body)

    @app.get("/api/v1/version", tags=["service"])
    def version() -> dict[str, str]:
        """The running version."""
        return {"version": __version__}

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        """Swagger UI 5 (reads OpenAPI 3.1), served from the product's files: no internet."""
        return HTMLResponse(_DOCS_HTML)

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        """ReDoc, served from the product's files as well."""
        return HTMLResponse(_REDOC_HTML)

    _mount_static(app)
    return app


# The viewers are vendored under frontend/static/vendor (see the licence files there) and
# started from files, not inline scripts, which the CSP forbids.
_DOCS_HTML = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Minyi API</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">
<link rel="stylesheet" href="/static/vendor/swagger-ui/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/static/vendor/swagger-ui/swagger-ui-bundle.js"></script>
<script src="/static/js/swagger-init.js"></script></body></html>"""

_REDOC_HTML = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Minyi API</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">
</head><body><div id="redoc"></div>
<script src="/static/vendor/redoc/redoc.standalone.js"></script>
<script src="/static/js/redoc-init.js"></script></body></html>"""


def _mount_static(app: FastAPI) -> None:
    plotly_js = Path(plotly.__file__).parent / "package_data"

    @app.api_route("/static/plotly/plotly.min.js", methods=["GET", "HEAD"], include_in_schema=False)
    def plotly_min_js(request: Request) -> Response:
        """plotly.js from the installed package, held in memory and sent gzipped when the
        browser accepts it (4.8 MB -> 1.4 MB: it dominates the dashboard's first load)."""
        return _plotly_asset(request, plotly_js / "plotly.min.js")

    # Compressed at start-up, not in the first evaluator's request.
    app.state.startup_hooks.append(lambda _app: _compressed(plotly_js / "plotly.min.js"))

    app.mount("/static/plotly", StaticFiles(directory=plotly_js), name="plotly")
    app.mount("/static", StaticFiles(directory=FRONTEND_STATIC), name="static")


@functools.cache
def _compressed(path: Path) -> tuple[bytes, bytes, str]:
    """(the file, the file gzipped, its ETag), read and compressed once per process."""
    raw = path.read_bytes()
    return (
        raw,
        gzip.compress(raw, compresslevel=6, mtime=0),
        f'"{hashlib.sha256(raw).hexdigest()[:32]}"',
    )


def _plotly_asset(request: Request, path: Path) -> Response:
    raw, packed, etag = _compressed(path)
    headers = {"ETag": etag, "Cache-Control": "public, max-age=86400", "Vary": "Accept-Encoding"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    media = "text/javascript; charset=utf-8"
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["Content-Encoding"] = "gzip"
        return Response(packed, media_type=media, headers=headers)
    return Response(raw, media_type=media, headers=headers)


def _include_routers(app: FastAPI) -> None:
    # The one place where shared plumbing reaches into the domains: mounting their routers.
    from frontend.pages.errors import render_error
    from frontend.router import router as pages
    from service.users import router as users
    from surveys.app import install as install_surveys

    install_surveys(app)
    app.include_router(users)
    from analytics.app import install as install_analytics

    install_analytics(app)
    app.include_router(pages)
    set_html_renderer(app, render_error)
